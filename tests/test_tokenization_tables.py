"""Command-token ids, vocabulary sizes and configuration errors of each tokenizer (spec §3)."""

import os
from functools import cache
from pathlib import Path

import pytest

from data_utils.tokenization import GLMTokenizer, TokenizerConfig, build_tokenizer

BLOCK = ("sop", "eop", "ENC", "MASK", "sep", "unk")


@cache
def _build(vocab_dir: Path, **flags) -> GLMTokenizer:
    return build_tokenizer(TokenizerConfig(tokenizer_path=str(vocab_dir), **flags))


def _ids(tok: GLMTokenizer) -> dict[str, int]:
    return {c.name: c.id for c in tok.command_tokens}


@pytest.mark.parametrize(
    ("task_mask", "block_mask", "extra", "num_tokens"),
    [
        (False, False, {}, 30524),
        (True, False, {"gMASK": 30524, "sMASK": 30525}, 30526),
        (False, True, {"dBLOCK": 30524}, 30525),
        (True, True, {"gMASK": 30524, "sMASK": 30525, "dBLOCK": 30526}, 30527),
    ],
)
def test_bert_table(vocab_dir: Path, task_mask: bool, block_mask: bool, extra, num_tokens) -> None:
    tok = _build(
        vocab_dir,
        tokenizer_type="BertWordPieceTokenizer",
        tokenizer_model_type="bert-large-uncased",  # falls back to the identical base vocab file
        task_mask=task_mask,
        block_mask=block_mask,
    )
    expected = {"pad": 0, "ENC": 101, "MASK": 103, "unk": 100, "sep": 102, "eos": 0}
    expected |= {"sop": 30522, "eop": 30523, **extra}
    assert _ids(tok) == expected
    assert not any(c.lstrip or c.rstrip for c in tok.command_tokens)
    assert (tok.num_tokens, tok.vocab_size) == (num_tokens, 30592)


@pytest.mark.parametrize(
    ("task_mask", "block_mask", "extra", "num_tokens"),
    [
        (False, False, {}, 50263),
        (True, False, {"gMASK": 50263, "sMASK": 50264}, 50265),
        (False, True, {"dBLOCK": 50263}, 50264),
        (True, True, {"gMASK": 50263, "sMASK": 50264, "dBLOCK": 50265}, 50266),
    ],
)
def test_gpt2_table(vocab_dir: Path, task_mask: bool, block_mask: bool, extra, num_tokens) -> None:
    tok = _build(
        vocab_dir, tokenizer_type="GPT2BPETokenizer", task_mask=task_mask, block_mask=block_mask
    )
    expected = {"pad": 50256, "eos": 50256} | {n: 50257 + k for k, n in enumerate(BLOCK)}
    assert _ids(tok) == expected | extra
    assert {c.name for c in tok.command_tokens if c.lstrip} == {"MASK", "gMASK", "sMASK"} & set(
        expected | extra
    )
    assert (tok.num_tokens, tok.vocab_size) == (num_tokens, 50304)


def test_gpt2_without_block_lm(vocab_dir: Path) -> None:
    tok = _build(vocab_dir, tokenizer_type="GPT2BPETokenizer", block_lm=False)
    assert _ids(tok) == {"pad": 50256, "eos": 50256}
    assert (tok.num_tokens, tok.vocab_size) == (50257, 50304)
    with pytest.raises(ValueError, match="'MASK' is not defined.*--block-lm"):
        _ = tok.mask_id
    ids = tok.encode("a [MASK]")  # plain text: no block symbols to split off
    assert max(ids) < 50256 and tok.decode(ids) == "a [MASK]"


@pytest.mark.parametrize(
    ("task_mask", "block_mask", "extra", "num_tokens"),
    [
        (False, False, {}, 50267),
        (True, False, {"gMASK": 50267, "sMASK": 50268}, 50269),
        (True, True, {"gMASK": 50267, "sMASK": 50268, "dBLOCK": 50269}, 50270),
    ],
)
def test_roberta_table(
    vocab_dir: Path, task_mask: bool, block_mask: bool, extra, num_tokens
) -> None:
    tok = _build(
        vocab_dir,
        tokenizer_type="GPT2BPETokenizer",
        tokenizer_model_type="roberta",
        task_mask=task_mask,
        block_mask=block_mask,
    )
    expected = {"pad": 2, "eos": 2, "sep": 2, "ENC": 0, "MASK": 50264, "unk": 3}
    assert _ids(tok) == expected | {"sop": 50265, "eop": 50266} | extra
    assert (tok.num_tokens, tok.vocab_size) == (num_tokens, 50304)
    assert tok.id_to_token(2) == "[SEP]" and tok.id_to_token(0) == "[CLS]"


def test_roberta_text_matches_gpt2_tokens(vocab_dir: Path) -> None:
    gpt2 = _build(vocab_dir, tokenizer_type="GPT2BPETokenizer")
    roberta = _build(vocab_dir, tokenizer_type="GPT2BPETokenizer", tokenizer_model_type="roberta")
    text = "Hello world, it's a [MASK] day.\n"
    g_ids, r_ids = gpt2.encode(text), roberta.encode(text)
    assert r_ids != g_ids
    assert [roberta.id_to_token(i) for i in r_ids] == [gpt2.id_to_token(i) for i in g_ids]
    assert roberta.decode(r_ids) == "Hello world, it's a[MASK] day.\n"
    assert roberta.decode([0, *r_ids[:2], 2]) == "[CLS]Hello world[SEP]"


@pytest.mark.parametrize(
    ("fix", "block_mask", "extra", "num_tokens"),
    [
        (False, False, {"gMASK": 50007, "sMASK": 50008}, 50009),
        (False, True, {"gMASK": 50007, "sMASK": 50008, "dBLOCK": 50009}, 50010),
        (True, False, {"sMASK": 50008, "gMASK": 50009}, 50010),
        (True, True, {"sMASK": 50008, "gMASK": 50009, "dBLOCK": 50010}, 50011),
    ],
)
def test_chinese_table(vocab_dir: Path, fix: bool, block_mask: bool, extra, num_tokens) -> None:
    tok = _build(
        vocab_dir,
        tokenizer_type="ChineseSPTokenizer",
        task_mask=True,
        fix_command_token=fix,
        block_mask=block_mask,
    )
    expected = {"pad": 50000, "eos": 50000, "sep": 50001, "ENC": 50002, "MASK": 50003}
    expected |= {"unk": 50004, "sop": 50006, "eop": 50007}
    assert _ids(tok) == expected | extra
    assert (tok.num_tokens, tok.vocab_size) == (num_tokens, 50048)
    with pytest.raises(ValueError, match="50005 is not a token"):
        tok.id_to_token(50005)


def test_chinese_gmask_eop_collision(vocab_dir: Path) -> None:
    """GLM-10B-Chinese mode: [gMASK] shares eop's id and the id reads back as [gMASK]."""
    tok = _build(vocab_dir, tokenizer_type="ChineseSPTokenizer", task_mask=True)
    assert tok.get_command("eop").id == tok.gmask_id == tok.eop_id == 50007
    assert tok.id_to_token(50007) == "[gMASK]"
    assert tok.encode("[gMASK]") == [50007] and tok.decode([50006, 50007]) == (
        "<|startofpiece|>[gMASK]"
    )
    assert tok.blank_mask_ids == (50003, 50008, 50007)
    fixed = _build(
        vocab_dir, tokenizer_type="ChineseSPTokenizer", task_mask=True, fix_command_token=True
    )
    assert fixed.id_to_token(50007) == "<|endofpiece|>" and fixed.id_to_token(50009) == "[gMASK]"


def test_bert_sentinel_pairs(vocab_dir: Path) -> None:
    tok = _build(
        vocab_dir,
        tokenizer_type="BertWordPieceTokenizer",
        tokenizer_model_type="bert-base-uncased",
        sentinel_token=True,
        max_position_embeddings=8,
    )
    ids = _ids(tok)
    for i in range(1, 8):
        assert ids[f"MASK{i}"] == 30522 + 2 * i and ids[f"sop{i}"] == 30523 + 2 * i
        assert tok.get_command(f"sop{i}").token == f"<|startofpiece{i}|>"
    assert "MASK8" not in ids and tok.num_tokens == 30524 + 14
    text = "a [MASK3] b <|startofpiece7|> [MASK]"
    encoded = tok.encode(text)
    assert encoded == [1037, ids["MASK3"], 1038, ids["sop7"], 103]
    assert tok.decode(encoded) == text
    default = _build(vocab_dir, tokenizer_type="BertWordPieceTokenizer", sentinel_token=True)
    assert (default.num_tokens, default.vocab_size) == (30524 + 2 * 511, 31616)


def test_padding_multiple(vocab_dir: Path) -> None:
    tok = _build(vocab_dir, tokenizer_type="GPT2BPETokenizer", make_vocab_size_divisible_by=1)
    assert tok.vocab_size == tok.num_tokens == 50263
    tok = _build(vocab_dir, tokenizer_type="GPT2BPETokenizer", make_vocab_size_divisible_by=1000)
    assert tok.vocab_size == 51000


def test_cased_bert_keeps_case(vocab_dir: Path, tmp_path: Path) -> None:
    os.symlink(vocab_dir / "bert-base-uncased-vocab.txt", tmp_path / "bert-base-cased-vocab.txt")
    cased = build_tokenizer(
        TokenizerConfig(tokenizer_model_type="bert-base-cased", tokenizer_path=str(tmp_path))
    )
    uncased = _build(vocab_dir, tokenizer_model_type="bert-base-uncased")
    assert uncased.decode(uncased.encode("Hello Café")) == "hello cafe"
    assert cased.decode(cased.encode("Hello Café")) != "hello cafe"


@pytest.mark.parametrize(
    ("flags", "error", "message"),
    [
        ({"tokenizer_type": "SentencePieceTokenizer"}, ValueError, "not supported: use one of"),
        (
            {"tokenizer_type": "GPT2BPETokenizer", "tokenizer_model_type": "gpt3"},
            ValueError,
            "gpt3",
        ),
        ({"tokenizer_model_type": "roberta"}, ValueError, "not a BERT vocabulary"),
        ({"tokenizer_model_type": "bert-base-cased"}, FileNotFoundError, "bert-base-cased-vocab"),
        ({"tokenizer_type": "GPT2BPETokenizer", "sentinel_token": True}, ValueError, "sentinel"),
        ({"make_vocab_size_divisible_by": 0}, ValueError, "divisible-by 0"),
        ({"tokenizer_type": "ByteBPETokenizer"}, FileNotFoundError, "tokenizer.json"),
    ],
)
def test_configuration_errors(vocab_dir: Path, flags: dict, error: type, message: str) -> None:
    with pytest.raises(error, match=message):
        build_tokenizer(TokenizerConfig(tokenizer_path=str(vocab_dir), **flags))


def test_missing_path_and_files(vocab_dir: Path, tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="--tokenizer-path is not set"):
        build_tokenizer(TokenizerConfig(tokenizer_type="GPT2BPETokenizer"))
    with pytest.raises(FileNotFoundError, match="not a folder"):
        build_tokenizer(TokenizerConfig(tokenizer_path=str(tmp_path / "absent")))
    os.symlink(vocab_dir / "gpt2-vocab.json", tmp_path / "gpt2-vocab.json")
    merges = tmp_path / "gpt2-merges.txt"
    with pytest.raises(FileNotFoundError) as info:
        build_tokenizer(TokenizerConfig("GPT2BPETokenizer", tokenizer_path=str(tmp_path)))
    assert str(merges) in str(info.value) and "gpt2-vocab.json and gpt2-merges.txt" in str(
        info.value
    )
    for tokenizer_type, name in (
        ("ChineseSPTokenizer", "cog-pretrain.model"),
        ("BertWordPieceTokenizer", "bert-base-uncased-vocab.txt"),
    ):
        with pytest.raises(FileNotFoundError, match=str(tmp_path / name)):
            build_tokenizer(TokenizerConfig(tokenizer_type, tokenizer_path=str(tmp_path)))


def test_unknown_tokens_and_commands(vocab_dir: Path) -> None:
    tok = _build(vocab_dir, tokenizer_type="GPT2BPETokenizer")
    with pytest.raises(ValueError, match="not in the vocabulary"):
        tok.token_to_id("definitely-not-a-token")
    with pytest.raises(ValueError, match="50304 is not a token"):
        tok.decode([50304])
    with pytest.raises(ValueError, match="'gMASK'.*--task-mask"):
        tok.get_command("gMASK")
    assert tok.gmask_id is None and tok.blank_mask_ids == (50260,)
