"""Token choice: top-k / top-p filtering per row, logits processors, seeded sampling."""

import pytest
import torch

from model.generation import GenerationConfig
from model.sampling import (
    MinLengthProcessor,
    NoRepeatNGramProcessor,
    TokenSampler,
    filter_logits,
)

NEG = float("-inf")


def test_top_k_keeps_the_k_largest_of_each_row():
    logits = torch.tensor([[1.0, 5.0, 3.0, 2.0], [9.0, 0.0, 8.0, 7.0]])
    kept = filter_logits(logits, top_k=2).isfinite()
    assert kept.tolist() == [[False, True, True, False], [True, False, True, False]]


def test_top_p_filters_every_row_on_its_own():
    """Each row of a batch is filtered exactly as it would be alone."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(5, 50, generator=gen) * 3
    batched = filter_logits(logits, top_p=0.8)
    for row in range(5):
        alone = filter_logits(logits[row : row + 1], top_p=0.8)
        assert torch.equal(batched[row : row + 1], alone)
        kept = batched[row].isfinite()
        probs = logits[row].softmax(-1)
        # The kept set is the smallest top set whose mass reaches 0.8.
        assert probs[kept].sum() >= 0.8
        assert probs[kept].sum() - probs[kept].min() < 0.8


def test_top_p_always_keeps_the_most_likely_token():
    logits = torch.tensor([[10.0, 0.0, -1.0]])
    assert filter_logits(logits, top_p=0.01).isfinite().tolist() == [[True, False, False]]


def test_min_length_forbids_stop_tokens_until_reached():
    processor = MinLengthProcessor(2, (3, 4))
    scores = processor(torch.zeros(1, 1, dtype=torch.long), torch.zeros(1, 6))
    assert scores[0].tolist() == [0, 0, 0, NEG, NEG, 0]
    assert processor(torch.zeros(1, 2, dtype=torch.long), torch.zeros(1, 6)).isfinite().all()


def test_no_repeat_ngram_bans_completing_a_seen_ngram():
    generated = torch.tensor([[1, 2, 3, 1, 2], [5, 5, 5, 5, 6]])
    scores = NoRepeatNGramProcessor(3)(generated, torch.zeros(2, 8))
    # Row 0 ends with (1, 2), seen before followed by 3; row 1 ends with (5, 6), never seen.
    assert (~scores[0].isfinite()).nonzero().flatten().tolist() == [3]
    assert scores[1].isfinite().all()
    unigram = NoRepeatNGramProcessor(1)(generated[:1], torch.zeros(1, 8))
    assert (~unigram[0].isfinite()).nonzero().flatten().tolist() == [1, 2, 3]


def test_sampler_greedy_and_seeded_draws():
    logits = torch.randn(4, 100, generator=torch.Generator().manual_seed(1))
    assert torch.equal(TokenSampler(top_k=1).choose(logits, None), logits.argmax(-1))
    sampler = TokenSampler(temperature=0.7, top_k=20, top_p=0.9)
    draws = [
        sampler.choose(logits, torch.Generator().manual_seed(seed)).tolist() for seed in (3, 3, 4)
    ]
    assert draws[0] == draws[1] != draws[2]
    top20 = logits.topk(20, dim=-1).indices
    for row, token in enumerate(draws[0]):
        assert token in top20[row]


@pytest.mark.parametrize(
    "field, value, flag",
    [
        ("out_seq_length", 0, "--out-seq-length"),
        ("temperature", 0.0, "--temperature"),
        ("top_p", 1.5, "--top-p"),
        ("num_beams", 0, "--num-beams"),
    ],
)
def test_generation_config_names_the_bad_flag(field, value, flag):
    with pytest.raises(ValueError, match=flag):
        GenerationConfig(**{field: value})
