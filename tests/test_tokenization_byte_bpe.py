"""Byte-level BPE: the chunk cache never changes GPT-2's word split; ByteBPETokenizer training."""

import re
import subprocess
import sys
from pathlib import Path

import pytest
import regex
from hypothesis import given, settings
from hypothesis import strategies as st

from data_utils.tokenization import TokenizerConfig, build_tokenizer, train_byte_bpe
from data_utils.tokenization.backends import (
    _BYTE_TO_CHAR,
    ASCII_SPLIT,
    CHUNK_SPLIT,
    GPT2_SPLIT,
    _spell,
    _split_words,
)

REPO_ROOT = Path(__file__).resolve().parents[1]

# Characters where the two splits could disagree: every kind of whitespace, letters, digits,
# punctuation, apostrophes for the contractions, and the separators \x1c-\x1f, which Python's
# `re` calls whitespace but the `regex` module does not.
TRICKY = " \t\n\r\x0b\x0c\x1c\x1f\x85\xa0\u2000\u2028\u3000\u200b'sdlvtrem aZé中1٣.,-!?\u0558"


def _split_by_chunks(text: str) -> list[str]:
    return [word for chunk in CHUNK_SPLIT.findall(text) for word in GPT2_SPLIT.findall(chunk)]


@settings(max_examples=400, deadline=None)
@given(st.text(alphabet=TRICKY, max_size=40))
def test_chunks_refine_to_gpt2_words(text: str) -> None:
    assert "".join(CHUNK_SPLIT.findall(text)) == text
    assert _split_by_chunks(text) == GPT2_SPLIT.findall(text)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(alphabet=TRICKY, min_size=1, max_size=20), max_size=6))
def test_split_words_of_many_chunks_in_one_pass(texts: list[str]) -> None:
    chunks = {chunk for text in texts for chunk in CHUNK_SPLIT.findall(text)}
    ordered, words = _split_words(chunks)
    assert sorted(ordered) == sorted(chunks)
    assert words == [GPT2_SPLIT.findall(chunk) for chunk in ordered]


def test_ascii_split_is_gpt2_split_on_ascii() -> None:
    """Every ASCII character alone, beside a letter, digit, space or apostrophe, and in pairs."""
    ascii_chars = [chr(c) for c in range(128)]
    context = ["", "a", "Z", "7", " ", "  ", "\n", "'", "'s", ".", "\x1c"]
    for c in ascii_chars:
        for left in context:
            for right in context:
                text = f"{left}{c}{right}{c}{c} x{c}"
                assert ASCII_SPLIT.findall(text) == GPT2_SPLIT.findall(text), repr(text)
    for a in ascii_chars:
        pair = "".join(f"{a}{b} {b}{a}" for b in ascii_chars)
        assert ASCII_SPLIT.findall(pair) == GPT2_SPLIT.findall(pair), repr(a)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=[chr(c) for c in range(128)] + list("'sdlvtrem "), max_size=60))
def test_ascii_split_matches_on_random_ascii(text: str) -> None:
    assert ASCII_SPLIT.findall(text) == GPT2_SPLIT.findall(text)


@pytest.mark.parametrize(
    "words",
    [[], [""], ["a"], [" the", "é", "中文", "\n\n"], ["a\x00b", "c"], ["\x00", "", "\x00"]],
)
def test_spell_words_together_equals_one_by_one(words: list[str]) -> None:
    expected = ["".join(_BYTE_TO_CHAR[b] for b in w.encode("utf-8")) for w in words]
    assert _spell(words) == expected


def test_chunk_whitespace_is_regex_whitespace() -> None:
    """Every BMP character: chunking around it agrees with GPT-2's split (the `regex` \\s)."""
    is_space = regex.compile(r"\s")
    chunk_space = re.compile(CHUNK_SPLIT.pattern.split("|")[-1])  # the bare whitespace-run branch
    for code in range(0x10000):
        c = chr(code)
        if 0xD800 <= code <= 0xDFFF:
            continue
        assert bool(chunk_space.fullmatch(c)) == bool(is_space.fullmatch(c)), hex(code)
        text = f"a{c} b{c}{c}1 {c}"
        assert _split_by_chunks(text) == GPT2_SPLIT.findall(text), hex(code)


@pytest.fixture(scope="module")
def trained_dir(shared_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    text = (shared_dir / "corpora" / "tinyshakespeare.txt").read_text(encoding="utf-8")
    sample = tmp_path_factory.mktemp("corpus") / "shakespeare_head.txt"
    sample.write_text(text[:100_000], encoding="utf-8")
    out = tmp_path_factory.mktemp("byte_bpe")
    train_byte_bpe(sample, 1000, out)
    return out


def test_byte_bpe_command_ids(trained_dir: Path) -> None:
    tok = build_tokenizer(
        TokenizerConfig("ByteBPETokenizer", tokenizer_path=str(trained_dir), task_mask=True)
    )
    assert tok.eos_id == tok.pad_id == tok.token_to_id("<|endoftext|>") == 0
    names = [c.name for c in tok.command_tokens]
    assert names == ["pad", "eos", "sop", "eop", "ENC", "MASK", "sep", "unk", "gMASK", "sMASK"]
    assert [c.id for c in tok.command_tokens[2:]] == list(range(1000, 1008))
    assert (tok.num_tokens, tok.vocab_size) == (1008, 1024)
    assert tok.blank_mask_ids == (1003, 1007, 1006)


def test_byte_bpe_round_trip(trained_dir: Path, shared_dir: Path) -> None:
    tok = build_tokenizer(
        TokenizerConfig(
            "ByteBPETokenizer", tokenizer_path=str(trained_dir), task_mask=True, block_mask=True
        )
    )
    assert tok.dblock_id == 1008
    moby = (shared_dir / "corpora" / "moby_dick.txt").read_text(encoding="utf-8")[:5000]
    for text in (moby, "naïve café — 北京 \t tabs\n\nand  spaces ", "ok"):
        ids = tok.encode(text)
        assert max(ids) < 1000 and tok.decode(ids) == text
    ids = tok.encode("Call me [MASK], said <|startofpiece|>he")
    assert tok.mask_id in ids and tok.sop_id in ids
    assert tok.decode(ids) == "Call me[MASK], said <|startofpiece|>he"
    first_words = len(tok.encode("First Citizen:"))
    assert first_words <= 4  # learned merges from the training text, not raw bytes


def test_train_tokenizer_cli(shared_dir: Path, tmp_path: Path) -> None:
    sample = tmp_path / "sample.txt"
    sample.write_text("to be or not to be, that is the question\n" * 50, encoding="utf-8")
    script = REPO_ROOT / "scripts" / "train_tokenizer.py"
    args = [sys.executable, str(script), "--input", str(sample), "--vocab-size", "300"]
    done = subprocess.run([*args, "--out", str(tmp_path / "tok")], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "tok" / "tokenizer.json").is_file()
    failed = subprocess.run(
        [sys.executable, str(script), "--input", str(tmp_path / "absent.txt")]
        + ["--vocab-size", "300", "--out", str(tmp_path / "x")],
        capture_output=True,
        text=True,
    )
    assert failed.returncode == 2 and "absent.txt not found" in failed.stderr


def test_train_from_iterator_and_small_vocab(tmp_path: Path) -> None:
    lines = (f"line {i} of a tiny corpus" for i in range(200))
    train_byte_bpe(lines, 300, tmp_path)
    tok = build_tokenizer(TokenizerConfig("ByteBPETokenizer", tokenizer_path=str(tmp_path)))
    assert tok.decode(tok.encode("line 7 of a tiny corpus")) == "line 7 of a tiny corpus"
    with pytest.raises(ValueError, match="too small"):
        train_byte_bpe(["x"], 200, tmp_path / "small")


def test_rejects_a_non_byte_level_tokenizer_json(tmp_path: Path) -> None:
    from tokenizers import Tokenizer, models

    word_level = Tokenizer(models.WordLevel({"a": 0, "<|endoftext|>": 1}, unk_token="a"))
    word_level.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(ValueError, match="not a byte-level BPE"):
        build_tokenizer(TokenizerConfig("ByteBPETokenizer", tokenizer_path=str(tmp_path)))


@pytest.mark.parametrize("vocab_file", ["gpt2-vocab.json", "roberta-vocab.json"])
def test_every_word_spelled_by_a_vocab_token_encodes_to_that_token(vocab_dir, vocab_file):
    """Why a GPT-2 word found in the vocabulary may skip BPE (ByteLevelBPEBackend): only
    special strings that GPT-2's pre-tokenizer can never produce as one word disagree."""
    import json

    from tokenizers import models

    bpe = models.BPE.from_file(str(vocab_dir / vocab_file), str(vocab_dir / "gpt2-merges.txt"))
    vocab = json.loads((vocab_dir / vocab_file).read_text())
    disagree = {t for t, i in vocab.items() if [x.id for x in bpe.tokenize(t)] != [i]}
    specials = {"<|endoftext|>", "<s>", "</s>", "<pad>", "<unk>", "<mask>"}
    assert disagree <= specials | {f"madeupword000{k}" for k in range(3)}
    assert all(len(GPT2_SPLIT.findall(t)) > 1 for t in disagree)
