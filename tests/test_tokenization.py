"""Tokenizer parity with the original GLM: ids, tokens, decoding and sizes from the fixtures.

Every expected value here was recorded by running the original code (fixtures/reference), so a
mismatch means a released checkpoint would see different inputs than it was trained on.
"""

import json
from functools import cache
from pathlib import Path

import numpy as np
import pytest

from data_utils.tokenization import GLMTokenizer, TokenizerConfig, build_tokenizer

VARIANTS = {
    "gpt2": {"tokenizer_type": "GPT2BPETokenizer", "task_mask": True},
    "bert": {
        "tokenizer_type": "BertWordPieceTokenizer",
        "tokenizer_model_type": "bert-base-uncased",
    },
}


@cache
def _build(vocab_dir: Path, variant: str) -> GLMTokenizer:
    return build_tokenizer(TokenizerConfig(tokenizer_path=str(vocab_dir), **VARIANTS[variant]))


@pytest.fixture(params=sorted(VARIANTS))
def variant(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def tok(vocab_dir: Path, variant: str) -> GLMTokenizer:
    return _build(vocab_dir, variant)


@pytest.fixture
def recorded(reference_dir: Path, variant: str) -> dict:
    return json.loads((reference_dir / variant / "tokenizer.json").read_text())


def test_sizes_and_command_tokens(tok: GLMTokenizer, recorded: dict) -> None:
    assert tok.num_tokens == recorded["num_tokens"]
    assert tok.vocab_size == recorded["vocab_size_padded"]
    assert tok.eos_id == tok.pad_id == recorded["eod_token"]
    got = [
        {"name": c.name, "token": c.token, "id": c.id, "lstrip": c.lstrip, "rstrip": c.rstrip}
        for c in tok.command_tokens
    ]
    assert got == recorded["command_tokens"]


def test_probes(tok: GLMTokenizer, recorded: dict) -> None:
    assert len(recorded["probes"]) >= 19
    for probe in recorded["probes"]:
        ids = tok.encode(probe["text"])
        assert ids == probe["ids"], probe["text"]
        assert [tok.id_to_token(i) for i in ids] == probe["tokens"], probe["text"]
        assert tok.decode(ids) == probe["decoded"], probe["text"]
        assert tok.decode(np.array(ids)) == probe["decoded"]


def test_encode_batch_equals_encode(tok: GLMTokenizer, recorded: dict) -> None:
    texts = [p["text"] for p in recorded["probes"]]
    texts += ["", "   ", "\n", "x", "[MASK]", " [MASK] ", "a\n\n[CLS]  b", "<|endoftext|>"]
    assert tok.encode_batch(texts) == [tok.encode(t) for t in texts]
    plain = [t for t in texts if t.strip() and "[" not in t and "<" not in t]
    assert tok.encode_batch(plain) == [tok.encode(t) for t in plain]
    assert tok.encode_batch([]) == []


def test_generation_cases(tok: GLMTokenizer, reference_dir: Path, variant: str) -> None:
    cases = json.loads((reference_dir / variant / "generation" / "cases.json").read_text())
    assert cases["settings"]["sop_id"] == tok.sop_id and cases["settings"]["eop_id"] == tok.eop_id
    assert cases["settings"]["mask_token_ids"] == {
        name: tok.get_command(name).id for name in cases["settings"]["mask_token_ids"]
    }
    for case in cases["cases"]:
        assert tok.encode(case["effective_text"]) == case["text_ids"]
        assert [tok.id_to_token(i) for i in case["context_ids"]] == case["context_tokens"]
        assert tok.decode(case["output_ids"]) == case["output_text"]
        for blank in case["blanks"]:
            assert tok.decode(blank["generated_ids"]) == blank["generated_text"]
            tokens = [tok.id_to_token(i) for i in blank["generated_ids"]]
            assert tokens == blank["generated_tokens"]


def test_lm_documents(tok: GLMTokenizer, reference_dir: Path, variant: str) -> None:
    lm_dir = reference_dir / variant / "lm"
    documents = json.loads((lm_dir / "lm.json").read_text())["documents"]
    for d, doc in enumerate(documents):
        scored = np.load(lm_dir / f"uni_doc{d}_token_logprobs.npy")
        assert len(tok.encode(doc)) == len(scored)
    # window 0 is [CLS] x0 [mask] [sop] x1 .. x61
    first = tok.encode(documents[0])
    window = np.load(lm_dir / "uni_ids.npy")[0]
    assert window[0] == tok.cls_id and window[1] == first[0] and window[3] == tok.sop_id
    assert window[4:].tolist() == first[1:62]


def test_block_samples(tok: GLMTokenizer, reference_dir: Path, variant: str) -> None:
    fixed = json.loads((reference_dir / variant / "blocks" / "fixed.json").read_text())
    doc1, doc2 = (tok.encode(fixed["sample_texts"][k]) for k in ("doc1", "doc2"))
    cls, eos = tok.cls_id, tok.eos_id
    samples = fixed["samples"]
    assert samples["single_doc"]["text"] == [cls, *doc1, eos]
    assert samples["two_docs"]["text"] == [cls, *doc1, eos, cls, *doc2, eos]
    assert samples["short_doc"]["text"] == [cls, *doc2, eos]


def test_gpt2_whitespace_rules(vocab_dir: Path) -> None:
    tok = _build(vocab_dir, "gpt2")
    a, b, space = 64, 275, 220
    assert tok.encode("") == [] and tok.encode(" \n\t ") == []
    # mask tokens swallow every whitespace before them, newlines included ...
    assert tok.encode("a \n [MASK] b") == [a, tok.mask_id, b]
    assert tok.encode("a\t[gMASK]") == [a, tok.gmask_id]
    # ... other command tokens do not, and neither strips after itself
    assert tok.encode("a [SEP] b") == [a, space, tok.get_command("sep").id, b]
    assert tok.encode("a [SEP] [MASK]") == [a, space, tok.get_command("sep").id, tok.mask_id]
    assert tok.encode("  [MASK]") == [tok.mask_id]
    assert tok.encode("[MASK]  ") == [tok.mask_id, space, space]


def test_bert_ids_and_decode(vocab_dir: Path) -> None:
    tok = _build(vocab_dir, "bert")
    assert (tok.cls_id, tok.mask_id, tok.eos_id, tok.sop_id, tok.eop_id) == (
        101,
        103,
        0,
        30522,
        30523,
    )
    assert tok.gmask_id is None and tok.smask_id is None and tok.dblock_id is None
    assert tok.blank_mask_ids == (103,)
    ids = tok.encode("Unaffable [MASK] x")
    assert tok.decode(ids) == "unaffable [MASK] x"
    assert tok.decode([tok.sop_id, *ids[:2]]) == "<|startofpiece|> " + tok.decode(ids[:2])


def test_gpt2_mask_ids(vocab_dir: Path) -> None:
    tok = _build(vocab_dir, "gpt2")
    assert tok.blank_mask_ids == (50260, 50264, 50263)
    assert (tok.gmask_id, tok.smask_id, tok.dblock_id) == (50263, 50264, None)
    assert tok.token_to_id("[gMASK]") == 50263 and tok.token_to_id("Ġworld") == 995


def test_gpt2_matches_independent_pipeline(vocab_dir: Path, shared_dir: Path, monkeypatch) -> None:
    """Our cached GPT-2 words equal a plain `tokenizers` pipeline, even with tiny caches."""
    from tokenizers import Tokenizer, models, pre_tokenizers

    from data_utils.tokenization import backends as tokenization_backends

    monkeypatch.setattr(tokenization_backends, "_CACHE_ENTRIES", 16)
    monkeypatch.setattr(tokenization_backends, "_CACHE_MAX_CHARS", 4)
    tok = build_tokenizer(TokenizerConfig("GPT2BPETokenizer", tokenizer_path=str(vocab_dir)))
    plain = Tokenizer(
        models.BPE.from_file(str(vocab_dir / "gpt2-vocab.json"), str(vocab_dir / "gpt2-merges.txt"))
    )
    plain.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    for corpus in ("moby_dick.txt", "cmrc2018_contexts_zh.txt"):
        text = (shared_dir / "corpora" / corpus).read_text(encoding="utf-8")[:20_000]
        docs = [d for d in text.splitlines() if d.strip()]
        expected = [e.ids for e in plain.encode_batch(docs)]
        assert tok.encode_batch(docs) == expected
        assert tok.encode_batch(docs) == expected  # second pass: from the caches


def test_sentence_end_table(vocab_dir: Path) -> None:
    gpt2 = _build(vocab_dir, "gpt2")
    table = gpt2.sentence_end_table()
    assert table.shape == (gpt2.num_tokens,) and table.dtype == bool
    ends = [".", "?", "!", ";", ":", "Ċ", "ãĢĤ", "âĢ¦", "ĠâĢ¦", '."']
    assert all(table[gpt2.token_to_id(t)] for t in ends)
    assert not any(table[gpt2.token_to_id(t)] for t in ("Ġthe", ",", "Ġ", "[MASK]"))
    with pytest.raises(ValueError):
        table[0] = True
    bert = _build(vocab_dir, "bert").sentence_end_table()
    assert bert[1012] and bert[1029] and not bert[1996]  # ".", "?", "the"
