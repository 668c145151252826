"""Property tests of blank infilling over many seeds and packed multi-document samples.

Every row of every batch must read back (tests/test_blank_infilling_util.py) to its original
sample, with consistent positions, block positions, sep and loss mask, non-overlapping spans
inside documents, and every blanked token predicted exactly once.
"""

import numpy as np
import pytest
import torch
from test_blank_infilling_util import (
    check_row,
    decode_row,
    document_regions,
    span_length,
    spans_of,
)

from data_utils.blank_infilling import InfillIds, MaskingConfig, build_glm_batch
from data_utils.tokenization import TokenizerConfig, build_tokenizer

SEEDS = range(40)


@pytest.fixture(scope="module")
def gpt2(vocab_dir):
    cfg = TokenizerConfig(
        tokenizer_type="GPT2BPETokenizer", tokenizer_path=str(vocab_dir), task_mask=True
    )
    return build_tokenizer(cfg)


@pytest.fixture(scope="module")
def ids(gpt2):
    return InfillIds.from_tokenizer(gpt2)


@pytest.fixture(scope="module")
def stream(gpt2, shared_dir):
    text = (shared_dir / "corpora" / "moby_dick.txt").read_text()[20_000:60_000]
    return np.array(gpt2.encode(text))


def packed_samples(stream, ids, rng, count=8, max_len=160):
    """`[CLS] doc eos [CLS] doc eos ...` samples; some end inside a document (no eos)."""
    samples = []
    for _ in range(count):
        target = int(rng.integers(12, max_len))
        parts = []
        while sum(len(p) for p in parts) < target:
            start = int(rng.integers(0, len(stream) - 200))
            doc = stream[start : start + int(rng.integers(3, 120))]
            parts.append(np.concatenate(([ids.cls], doc, [ids.eos])))
        tokens = np.concatenate(parts)[:target]
        mask = (tokens != ids.cls).astype(np.int64)
        samples.append((tokens, mask))
    return samples


MODES = {
    "bert": MaskingConfig(bert_prob=1.0, task_mask=True),
    "single_span": MaskingConfig(bert_prob=1.0, single_span_prob=1.0, task_mask=True),
    "sentence": MaskingConfig(bert_prob=0.0, gap_sentence_prob=1.0, task_mask=True),
    "gpt": MaskingConfig(bert_prob=0.0, task_mask=True),
    "mixed_10b": MaskingConfig(bert_prob=0.5, gap_sentence_prob=0.3, gpt_min_ratio=0.25),
    "no_shuffle": MaskingConfig(bert_prob=0.4, gap_sentence_prob=0.3, shuffle_blocks=False),
    "no_block_position": MaskingConfig(
        bert_prob=0.4, gap_sentence_prob=0.3, block_position_encoding=False
    ),
    "random_position": MaskingConfig(
        bert_prob=0.4, gap_sentence_prob=0.3, random_position=True, max_seq_length=256
    ),
}


def _mask_ids(ids: InfillIds, config: MaskingConfig) -> set[int]:
    return {ids.task_mask_id(task, config) for task in ("bert", "sentence", "gpt")}


@pytest.mark.parametrize("name", MODES)
def test_every_row_reads_back_to_its_sample(name, ids, stream):
    config = MODES[name]
    for seed in SEEDS:
        samples = packed_samples(stream, ids, np.random.default_rng(1000 + seed))
        batch = build_glm_batch(samples, config, ids, np.random.default_rng(seed))
        assert batch.tokens.shape[0] == len(samples) and batch.position_ids.shape[1] == 2
        for i, (tokens, loss_mask) in enumerate(samples):
            row = decode_row(batch, i, {ids.sop}, ids.eop)
            offset = int(row.positions[0, 0])
            assert offset == 0 or config.random_position
            assert max(row.positions[0].max(), offset) < max(config.max_seq_length, len(tokens))
            check_row(
                row, tokens, _mask_ids(ids, config), ids.eop, config.block_position_encoding, offset
            )
            _check_spans_respect_documents(row, tokens, loss_mask, ids, batch.mode, offset)


def _check_spans_respect_documents(row, tokens, loss_mask, ids, mode, offset):
    """Blanks stay inside one document and never take [CLS] or eos (gpt suffixes excepted)."""
    regions = document_regions(tokens, ids.eos, ids.cls)
    predicted = 0
    for block, (s, e) in zip(row.blocks, spans_of(row, offset), strict=True):
        if block.suffix:
            assert e == len(tokens) and mode == "gpt"
            np.testing.assert_array_equal(block.loss, loss_mask[s:e])
            predicted += int(loss_mask[s:e].sum())
            continue
        assert not np.isin(tokens[s:e], [ids.cls, ids.eos]).any()
        if mode != "sentence":  # a sentence may run to the last token of a cut document
            assert any(a <= s and e <= b for a, b in regions)
        predicted += span_length(block) + 1
    assert row.loss.sum() == predicted, "every blanked token is predicted exactly once"


def test_bert_mode_masks_fifteen_percent_of_each_sample(ids, stream):
    config = MODES["bert"]
    for seed in SEEDS:
        samples = packed_samples(stream, ids, np.random.default_rng(seed), max_len=400)
        batch = build_glm_batch(samples, config, ids, np.random.default_rng(seed))
        for i, (tokens, _) in enumerate(samples):
            masked = sum(span_length(b) for b in decode_row(batch, i, {ids.sop}, ids.eop).blocks)
            room = int((document_regions(tokens, ids.eos, ids.cls) @ [-1, 1]).sum())
            # GLM's budget, unless the documents hold too little room for it (then all but gaps)
            assert masked >= min(int(0.15 * len(tokens)), room // 2)


def test_samples_whose_spans_do_not_fit_are_kept(ids):
    """Many tiny documents: GLM drops such samples; here the batch keeps its size."""
    doc = [ids.cls, 318, 257, ids.eos]  # [CLS] is a eos: room for one 1-token span
    tiny = np.array(doc * 12)
    samples = [(tiny, np.ones_like(tiny)), (tiny[:-1], np.ones(len(tiny) - 1, dtype=int))]
    for seed in SEEDS:
        batch = build_glm_batch(samples, MODES["bert"], ids, np.random.default_rng(seed))
        assert batch.tokens.shape[0] == 2
        for i, (tokens, _) in enumerate(samples):
            row = decode_row(batch, i, {ids.sop}, ids.eop)
            check_row(row, tokens, {ids.mask}, ids.eop)
            assert len(row.blocks) >= 1


def test_same_seed_same_batch_other_seed_other_batch(ids, stream):
    samples = packed_samples(stream, ids, np.random.default_rng(7))
    config = MODES["mixed_10b"]
    first = build_glm_batch(samples, config, ids, np.random.default_rng(3))
    again = build_glm_batch(samples, config, ids, np.random.default_rng(3))
    other = build_glm_batch(samples, config, ids, np.random.default_rng(4))
    for field in ("tokens", "targets", "loss_mask", "position_ids", "sep"):
        assert torch.equal(getattr(first, field), getattr(again, field))
    assert first.mode == again.mode
    assert not torch.equal(first.tokens, other.tokens) or first.mode != other.mode


def test_gpt_length_is_shared_and_suffix_ends_with_the_text(ids, stream):
    config = MODES["gpt"]
    for seed in SEEDS:
        samples = packed_samples(stream, ids, np.random.default_rng(seed))
        batch = build_glm_batch(samples, config, ids, np.random.default_rng(seed))
        lengths = []
        for i, (tokens, _) in enumerate(samples):
            (block,) = decode_row(batch, i, {ids.sop}, ids.eop).blocks
            lengths.append((span_length(block), len(tokens)))
            if block.suffix:
                assert block.targets[-1] == tokens[-1]
        longest = max(g for g, _ in lengths)
        assert all(g == min(longest, n - 2) for g, n in lengths)
        shortest = min(n for _, n in lengths)
        assert longest >= int(config.gpt_min_ratio * shortest)
