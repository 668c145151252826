"""Where the blanks go: span lengths and positions for a whole batch at once.

The samples of a batch travel as one `RaggedBatch` (concatenated tokens plus offsets), and the
spans chosen in them as one span table: an int64 array `[k, 3]` of rows
`(sample, start, end)` (end exclusive, indices within the sample), grouped by sample and sorted
by start. Every function is pure: randomness only from the `np.random.Generator` passed in, and
each draws a fixed number of values per batch, so the work is a few dozen numpy calls per batch
rather than a Python loop per token.

A sample is a packed `BlockDataset` sequence `[CLS] doc [eos] [CLS] doc [eos] ...` whose last
document may be cut (no trailing `eos`). Spans never cross a document and never cover `[CLS]` or
`eos`.
"""

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

BERT_RATIO = 0.15  # GLM's fixed share of tokens masked in token mode (not a flag)
MAX_BLOCK_LENGTH = 40  # span lengths are 1 .. MAX_BLOCK_LENGTH - 1


@dataclass(frozen=True)
class RaggedBatch:
    """The samples of one batch, concatenated: sample i is `tokens[offsets[i]:offsets[i+1]]`."""

    tokens: np.ndarray  # int64 [N]
    loss_mask: np.ndarray  # int64 [N]
    offsets: np.ndarray  # int64 [b + 1]

    @classmethod
    def from_samples(cls, samples: Sequence[tuple[np.ndarray, np.ndarray]]) -> "RaggedBatch":
        lengths = [len(t) for t, _ in samples]
        if min(lengths) < 2:
            raise ValueError("every sample needs at least 2 tokens ([CLS] and one more)")
        return cls(
            tokens=np.concatenate([t for t, _ in samples]).astype(np.int64),
            loss_mask=np.concatenate([m for _, m in samples]).astype(np.int64),
            offsets=np.concatenate(([0], np.cumsum(lengths))).astype(np.int64),
        )

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def sample(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]

    def sample_ids(self) -> np.ndarray:
        """Sample index of every token, `[N]`."""
        return np.repeat(np.arange(len(self)), self.lengths)


def span_length_cdf(avg_block_length: float) -> np.ndarray:
    """Cumulative probabilities of span lengths 1..39: Poisson(avg_block_length), truncated."""
    k = np.arange(1, MAX_BLOCK_LENGTH)
    log_fact = np.array([math.lgamma(x + 1) for x in k])
    pmf = np.exp(k * math.log(avg_block_length) - avg_block_length - log_fact)
    cdf = np.cumsum(pmf / pmf.sum())
    cdf[-1] = 1.0
    return cdf


def draw_span_lengths(
    cdf: np.ndarray, targets: np.ndarray, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Per sample, lengths drawn until their sum reaches its target, in random order.

    Returns `lengths [b, m]` (0 past each row's count) and `counts [b]`. The last draw may
    overshoot the target; a target of 0 draws nothing.
    """
    m = max(int(targets.max()), 1)  # lengths are >= 1, so `target` draws always suffice
    lengths = np.searchsorted(cdf, rng.random((len(targets), m)), side="right") + 1
    reached = (np.cumsum(lengths, axis=1) < targets[:, None]).sum(axis=1) + 1
    counts = np.where(targets > 0, reached, 0)
    valid = np.arange(m) < counts[:, None]
    # GLM shuffles the drawn lengths: the overshooting last draw may land anywhere.
    order = np.argsort(np.where(valid, rng.random(lengths.shape), 2.0), axis=1)
    return np.take_along_axis(lengths, order, axis=1) * valid, counts


def first_region(batch: RaggedBatch, cls_id: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and room of each sample's usable region if it holds one document."""
    start = (batch.tokens[batch.offsets[:-1]] == cls_id).astype(np.int64)
    return start, batch.lengths - 1 - start  # the last token (eos, or a cut) is never masked


def multi_document(batch: RaggedBatch, eos_id: int) -> np.ndarray:
    """Bool `[b]`: the sample holds an `eos` before its last token."""
    is_eos = batch.tokens == eos_id
    is_eos[batch.offsets[1:] - 1] = False
    return np.add.reduceat(is_eos, batch.offsets[:-1]) > 0


def sort_table(table: np.ndarray) -> np.ndarray:
    return table[np.lexsort((table[:, 1], table[:, 0]))]


def sentence_span_table(
    batch: RaggedBatch,
    sentence_end: np.ndarray,
    ratio: float,
    eos_id: int,
    cls_id: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Whole sentences for mode `sentence` (§7.4), at least `ratio` of each sample's tokens.

    A sentence ends at a sentence-end token (included) or before a document boundary; `[CLS]`
    and `eos` belong to no sentence (GLM lets a sentence start at a document's `[CLS]`; masking
    it would teach the model to predict `[CLS]` inside text). Sentences are taken in random
    order until their total reaches the target; the last one may overshoot.
    """
    tokens, offsets = batch.tokens, batch.offsets
    excluded = (tokens == eos_id) | (tokens == cls_id)
    ends_here = sentence_end[tokens]
    sample_first = np.zeros(len(tokens), dtype=bool)
    sample_first[offsets[:-1]] = True
    prev_break = np.roll(ends_here | excluded, 1) | sample_first
    next_break = np.roll(excluded | sample_first, -1)
    starts = np.flatnonzero(~excluded & prev_break)
    ends = np.flatnonzero(~excluded & (ends_here | next_break)) + 1
    sample = np.searchsorted(offsets, starts, side="right") - 1
    order = np.lexsort((rng.random(len(starts)), sample))  # shuffled within each sample
    s_sample, s_len = sample[order], (ends - starts)[order]
    group_first = np.searchsorted(s_sample, s_sample, side="left")
    cum = np.cumsum(s_len)
    before = cum - s_len - (cum[group_first] - s_len[group_first])
    targets = (ratio * batch.lengths).astype(np.int64)
    take = order[(before < targets[s_sample]) | (np.arange(len(order)) == group_first)]
    base = offsets[sample[take]]
    return sort_table(np.stack([sample[take], starts[take] - base, ends[take] - base], axis=1))


def gpt_span_table(
    batch: RaggedBatch,
    length: int,
    infill_prob: float,
    eos_id: int,
    cls_id: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """One generation span per sample for mode `gpt` (§7.7), and which spans are suffixes.

    The span has `min(length, n - 2)` tokens. It is the suffix of the sample when the sample
    holds several documents or with probability `infill_prob` (GLM's name for it), otherwise it
    is placed uniformly inside the document.
    """
    n = batch.lengths
    g = np.minimum(length, n - 2)
    suffix = multi_document(batch, eos_id) | (rng.random(len(n)) < infill_prob)
    start, room = first_region(batch, cls_id)
    place = np.floor(rng.random(len(n)) * (room - g + 1)).astype(np.int64)
    starts = np.where(suffix, n - g, start + place)
    table = np.stack([np.arange(len(n)), starts, starts + g], axis=1)
    has_span = g >= 1
    return table[has_span], suffix[has_span]


def short_window(
    tokens: np.ndarray,
    loss_mask: np.ndarray,
    target_length: int,
    boundary: np.ndarray,
    eos_id: int,
    cls_id: int,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """A `[CLS] + tokens[s:e]` window of at most `target_length` tokens, cut at sentence ends.

    `boundary[i]` says token i ends a sentence or is `eos`. The start moves left to a sentence
    start; the end moves left to a sentence end unless that keeps fewer than half the window.
    """
    body, mask, bound = tokens[1:], loss_mask[1:], boundary[1:]
    n = len(body)
    if n <= target_length:
        return tokens, loss_mask
    s = int(rng.integers(0, n - target_length))
    can_start = (body[: s + 1] != eos_id) & np.concatenate(([True], bound[:s]))
    can_start[0] = True
    s = int(np.flatnonzero(can_start)[-1])
    e = s + target_length
    ends = np.flatnonzero(bound[s:e]) + s + 1
    if len(ends) and ends[-1] - s >= target_length // 2:
        e = int(ends[-1])
    return np.concatenate(([cls_id], body[s:e])), np.concatenate(([0], mask[s:e]))
