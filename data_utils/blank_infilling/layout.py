"""Part A / Part B layout of a batch of blank-infilling samples (spec §7.5, §7.7, §7.9).

```
original:  [CLS] t1 t2 t3 t4 t5 t6 t7 eos          spans (2,4) and (5,6); Part-B order 2nd, 1st
Part A:    [CLS] t1 [M] t4 [M] t6 t7 eos            sep = 8, positions 0..7 (spans collapsed)
Part B:    [sop] t5 | [sop] t2 t3                   inputs
targets:   t5 [eop] | t2 t3 [eop]                   (Part A's targets copy Part A, unused)
position:  4   4    | 2   2  2                      the Part-A index of the span's mask
block pos: 1   2    | 1   2  3                      (all 1 with --no-block-position)
loss mask: 0 on Part A, 1 on Part B
```

A *suffix* span (gpt mode) is the same block without its last position: inputs `[sop] tgt[:-1]`,
targets `tgt` (ending with the document's own `eos`, no `[eop]`), and its loss mask is the
sample's own (prompt tokens excluded).

The layout is deterministic and works on the whole batch at once: every sample's tokens are
scattered into the padded `[b, T]` arrays by computed (row, column) indices. The corruptions
that draw random numbers (`[dBLOCK]` on span inputs or on context) are separate functions.
"""

from dataclasses import dataclass

import numpy as np

from data_utils.blank_infilling.batch import BatchArrays
from data_utils.blank_infilling.spans import RaggedBatch


def span_interior(size: int, starts: np.ndarray, ends: np.ndarray, with_start: bool) -> np.ndarray:
    """Bool `[size]`: index inside a span (a span's first index only if `with_start`)."""
    delta = np.zeros(size + 1, dtype=np.int32)
    delta[starts + (0 if with_start else 1)] += 1
    delta[ends] -= 1
    return np.cumsum(delta[:size]) > 0


def part_a_lengths(lengths: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """`sep` per sample: its length minus each span's length plus one mask token per span."""
    covered = np.bincount(
        spans[:, 0], weights=spans[:, 2] - spans[:, 1] - 1, minlength=len(lengths)
    )
    return lengths - covered.astype(np.int64)


@dataclass
class _Part:
    """One part (A or B) of every row, concatenated row by row."""

    counts: np.ndarray  # [b] tokens of this part per row
    col: np.ndarray  # column of each token in its row
    tokens: np.ndarray
    targets: np.ndarray
    loss: np.ndarray | int
    positions: np.ndarray
    block_positions: np.ndarray | int


def _part_a(
    batch: RaggedBatch,
    sample: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    mask_ids: np.ndarray,
    offsets: np.ndarray,
) -> tuple[_Part, np.ndarray]:
    """Every sample with each span collapsed to its mask token, and each mask's column."""
    keep = ~span_interior(len(batch.tokens), start, start + length, with_start=False)
    kept = np.cumsum(keep)
    kept_before = kept[batch.offsets[:-1]] - keep[batch.offsets[:-1]]
    sep = kept[batch.offsets[1:] - 1] - kept_before
    tokens = batch.tokens[keep]
    tokens[kept[start] - 1] = mask_ids
    col = np.arange(len(tokens)) - np.repeat(kept_before, sep)
    slot = kept[start] - 1 - kept_before[sample]
    return _Part(sep, col, tokens, tokens, 0, col + np.repeat(offsets, sep), 0), slot


def _part_b(
    batch: RaggedBatch,
    sample: np.ndarray,
    start: np.ndarray,
    length: np.ndarray,
    sep: np.ndarray,
    positions: np.ndarray,
    sop_ids: np.ndarray,
    eop_id: int,
    suffix: np.ndarray,
    block_positions: bool,
) -> _Part:
    """One block per span: `[sop] span` predicting `span [eop]` (a suffix: without the last
    position, predicting the text itself); `positions` is each block's position id."""
    x = batch.tokens
    block = length + 1 - suffix
    first = np.cumsum(block) - block
    within = np.arange(int(block.sum())) - np.repeat(first, block)
    source = np.repeat(start, block) + within  # the token each position predicts
    inputs = x[source - 1]
    inputs[first] = sop_ids
    source = np.minimum(source, len(x) - 1)  # past the end only where eop is written
    targets = x[source]
    targets[within == np.repeat(length, block)] = eop_id
    loss = np.where(np.repeat(suffix, block), batch.loss_mask[source], 1)
    counts = np.bincount(sample, weights=block, minlength=len(batch)).astype(np.int64)
    col = np.arange(len(within)) + np.repeat(sep - (np.cumsum(counts) - counts), counts)
    return _Part(
        counts,
        col,
        inputs,
        targets,
        loss,
        np.repeat(positions, block),
        within + 1 if block_positions else 1,
    )


def _scatter(parts: tuple[_Part, _Part], sep: np.ndarray) -> BatchArrays:
    """Padded `[b, T]` arrays from the parts, written through flat indices (row r at r*T)."""
    out = BatchArrays.zeros(sep, sum(p.counts for p in parts), two_d=True)
    b, width = out.tokens.shape
    positions = np.zeros((2, b * width), dtype=np.int64)
    for part in parts:
        dest = part.col + np.repeat(np.arange(b) * width, part.counts)
        out.tokens.reshape(-1)[dest] = part.tokens
        out.targets.reshape(-1)[dest] = part.targets
        out.loss_mask.reshape(-1)[dest] = part.loss
        positions[0, dest] = part.positions
        positions[1, dest] = part.block_positions
    out.position_ids = positions.reshape(2, b, width).transpose(1, 0, 2).copy()
    return out


def lay_out_blocks(
    batch: RaggedBatch,
    spans: np.ndarray,
    mask_ids: np.ndarray,
    sop_ids: np.ndarray,
    eop_id: int,
    suffix: np.ndarray | None = None,
    block_positions: bool = True,
    position_offsets: np.ndarray | None = None,
    sentinel_position: int | None = None,
) -> BatchArrays:
    """Lay out every sample of `batch` as Part A followed by one Part-B block per span.

    `spans` is a span table `[k, 3]` (sample, start, end), grouped by sample in increasing
    sample order, each sample's rows in Part-B order. `mask_ids`, `sop_ids` and `suffix` give
    each span's mask token, start token and whether it is a gpt suffix. `position_offsets [b]`
    shifts a sample's positions (`--random-position`); `sentinel_position` replaces the Part-B
    positions of non-suffix spans (`--sentinel-token`).
    """
    suffix = np.zeros(len(spans), dtype=bool) if suffix is None else suffix
    offsets = np.zeros(len(batch), dtype=np.int64) if position_offsets is None else position_offsets
    sample, length = spans[:, 0], spans[:, 2] - spans[:, 1]
    start = batch.offsets[sample] + spans[:, 1]  # index into the flat tokens
    part_a, slot = _part_a(batch, sample, start, length, mask_ids, offsets)
    positions = slot + offsets[sample]  # Part B repeats the position of its mask
    if sentinel_position is not None:
        positions = np.where(suffix, positions, sentinel_position)
    part_b = _part_b(
        batch,
        sample,
        start,
        length,
        part_a.counts,
        positions,
        sop_ids,
        eop_id,
        suffix,
        block_positions,
    )
    return _scatter((part_a, part_b), part_a.counts)


def lay_out_masked(batch: RaggedBatch, spans: np.ndarray, mask_id: int) -> BatchArrays:
    """BERT-style masked LM (`--masked-lm`): span tokens become `[MASK]` in place.

    No Part B: targets are the original tokens, the loss covers the masked tokens that the
    sample's loss mask allows, positions are 1-D `0..n-1`, and `sep = n` (all bidirectional).
    """
    start = batch.offsets[spans[:, 0]] + spans[:, 1]
    end = batch.offsets[spans[:, 0]] + spans[:, 2]
    masked = span_interior(len(batch.tokens), start, end, with_start=True)
    row = batch.sample_ids()
    col = np.arange(len(row)) - batch.offsets[row]
    out = BatchArrays.zeros(batch.lengths, batch.lengths, two_d=False)
    out.tokens[row, col] = np.where(masked, mask_id, batch.tokens)
    out.targets[row, col] = batch.tokens
    out.loss_mask[row, col] = batch.loss_mask * masked
    out.position_ids[row, col] = col
    return out


def _in_part_b(out: BatchArrays) -> np.ndarray:
    col = np.arange(out.tokens.shape[1])
    return (col >= out.sep[:, None]) & (col < out.lengths[:, None])


def mask_span_inputs(
    out: BatchArrays, prob: float, dblock_id: int, sop_ids: np.ndarray, rng: np.random.Generator
) -> None:
    """`--block-mask-prob`: each Part-B input token (not `[sop]`) becomes `[dBLOCK]` w.p. `prob`."""
    hit = _in_part_b(out) & ~np.isin(out.tokens, sop_ids) & (rng.random(out.tokens.shape) < prob)
    out.tokens[hit] = dblock_id


def mask_context(
    out: BatchArrays,
    counts: np.ndarray,
    mask_ids: np.ndarray,
    protected: tuple[int, ...],
    dblock_id: int,
    rng: np.random.Generator,
    context_range: int = 3,
) -> None:
    """`--context-mask-ratio`: `counts[i]` Part-A tokens of row i next to a mask become `[dBLOCK]`.

    Candidates are the `context_range` tokens after and before each mask, within the unmasked
    text between masks; `protected` tokens (`[CLS]`, `eos`) are never chosen. The choice is
    without replacement (GLM sampled from a set, which Python 3.11 refuses).
    """
    b, width = out.tokens.shape
    col = np.broadcast_to(np.arange(width), (b, width))
    part_a = col < out.sep[:, None]
    is_mask = part_a & np.isin(out.tokens, mask_ids)
    prev_mask = np.maximum.accumulate(np.where(is_mask, col, -width), axis=1)
    next_mask = np.minimum.accumulate(np.where(is_mask, col, 2 * width)[:, ::-1], axis=1)[:, ::-1]
    near = (col - prev_mask <= context_range) | (next_mask - col <= context_range)
    candidate = part_a & near & ~is_mask & ~np.isin(out.tokens, protected)
    keys = np.where(candidate, rng.random((b, width)), 2.0)
    rank = np.empty_like(col)
    np.put_along_axis(rank, np.argsort(keys, axis=1), col, axis=1)
    out.tokens[candidate & (rank < counts[:, None])] = dblock_id
