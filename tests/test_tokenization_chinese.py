"""ChineseSPTokenizer: SentencePiece text, GLM command tokens, lstrip masks, newline handling."""

import unicodedata
from functools import cache
from pathlib import Path

import pytest

from data_utils.tokenization import GLMTokenizer, TokenizerConfig, build_tokenizer


@cache
def _build(vocab_dir: Path, fix: bool) -> GLMTokenizer:
    cfg = TokenizerConfig(
        "ChineseSPTokenizer", tokenizer_path=str(vocab_dir), task_mask=True, fix_command_token=fix
    )
    return build_tokenizer(cfg)


@pytest.fixture(params=[False, True], ids=["default", "fix_command_token"])
def tok(vocab_dir: Path, request: pytest.FixtureRequest) -> GLMTokenizer:
    return _build(vocab_dir, request.param)


def test_corpus_round_trip(tok: GLMTokenizer, shared_dir: Path) -> None:
    """Decoding gives the text back up to SentencePiece's NFKC and whitespace normalisation."""
    lines = (shared_dir / "corpora" / "cmrc2018_contexts_zh.txt").read_text().splitlines()
    checked = 0
    for line in lines[:40]:
        ids = tok.encode(line)
        assert ids and max(ids) < 50000
        if 0 in ids:  # characters outside the vocabulary decode as " ⁇ "
            continue
        assert tok.decode(ids) == " ".join(unicodedata.normalize("NFKC", line).split())
        checked += 1
    assert checked >= 20
    assert tok.encode_batch(lines[:40]) == [tok.encode(line) for line in lines[:40]]


def test_command_tokens_in_text(tok: GLMTokenizer) -> None:
    text = "清华大学位于[MASK]。它成立于1911年。 [sMASK] 校训是[gMASK]"
    ids = tok.encode(text)
    masks = [i for i in ids if i >= 50000]
    assert masks == [tok.mask_id, tok.smask_id, tok.gmask_id]
    assert tok.decode(ids) == "清华大学位于[MASK]。它成立于1911年。[sMASK]校训是[gMASK]"
    special = "<|endoftext|>[CLS]a[SEP]<|startofpiece|>b<|endofpiece|>[UNK]"
    ids = tok.encode(special)
    assert [i for i in ids if i >= 50000] == [
        tok.eos_id,
        tok.cls_id,
        tok.get_command("sep").id,
        tok.sop_id,
        tok.eop_id if tok.gmask_id != tok.eop_id else tok.gmask_id,
        tok.get_command("unk").id,
    ]


def test_lstrip_masks(tok: GLMTokenizer) -> None:
    """Whitespace before a mask is dropped; before other command tokens it reaches SentencePiece."""
    assert tok.encode("北京 \n [MASK]") == tok.encode("北京[MASK]")
    assert tok.encode("北京 [gMASK] 天津") == tok.encode("北京[gMASK] 天津")
    spaced, tight = tok.encode("a [SEP]"), tok.encode("a[SEP]")
    assert spaced[-1] == tight[-1] == tok.get_command("sep").id
    assert tok.encode("   [MASK]") == [tok.mask_id]


def test_newlines_are_normalised_away(tok: GLMTokenizer) -> None:
    """GLM's SentencePiece model turns newlines into spaces; `<n>` (id 3) is never produced."""
    assert tok.encode("第一行\n第二行") == tok.encode("第一行 第二行")
    assert 3 not in tok.encode("a\nb\n\nc")
    assert tok.encode("\n\n") == []


def test_pieces_and_sentence_ends(tok: GLMTokenizer) -> None:
    ids = tok.encode("北京。")
    assert tok.id_to_token(ids[-1]) == "。"
    assert tok.token_to_id("。") == ids[-1]
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.token_to_id("not-a-piece-at-all")
    table = tok.sentence_end_table()
    assert table.shape == (tok.num_tokens,)
    assert table[ids[-1]] and not table[ids[0]]
    assert table[tok.token_to_id("?")] and table[tok.token_to_id("!")]  # NFKC folds ？ and ！


def test_without_task_mask_no_command_shares_eops_id(vocab_dir):
    """Only [gMASK] may collide with eop (GLM-10B-Chinese); [dBLOCK] takes the next free id."""
    config = TokenizerConfig(
        tokenizer_type="ChineseSPTokenizer", tokenizer_path=str(vocab_dir), block_mask=True
    )
    tokenizer = build_tokenizer(config)
    assert (tokenizer.eop_id, tokenizer.dblock_id, tokenizer.num_tokens) == (50007, 50008, 50009)
    assert len(tokenizer.sentence_end_table()) == tokenizer.num_tokens
