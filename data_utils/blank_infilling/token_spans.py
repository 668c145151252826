"""Token spans for mode `bert` (spec §7.3, GLM's `sample_span_in_document`), batched.

Span lengths are Poisson draws covering 15% of each sample. A sample holding one document gets
them placed uniformly (separated by at least one token) with a few array operations for the
whole batch. A packed sample `[CLS] d1 eos [CLS] d2 eos ...` first spreads its lengths over its
documents by GLM's rule (shortest documents first, each but the longest up to 15% of its room;
the longest takes the rest while they fit): that rule is sequential, so it runs as a short
Python loop over plain ints, and the placement after it is again vectorised over every document
of the batch.
"""

import numpy as np

from data_utils.blank_infilling.spans import BERT_RATIO, RaggedBatch, draw_span_lengths, sort_table

SHORT_DOC_RATIO = 0.15  # in multi-document samples, every document but the longest gets <= 15%


def batch_regions(batch: RaggedBatch, eos_id: int, cls_id: int) -> np.ndarray:
    """`[r, 3]` rows `(sample, start, end)`: each document's maskable tokens, in order.

    A region starts after the sample's or document's `[CLS]` and ends before its `eos`; a last
    document cut without `eos` also gives up its final token, as GLM does.
    """
    x, offsets = batch.tokens, batch.offsets
    eos = np.flatnonzero(x == eos_id)
    sample_last = offsets[1:] - 1
    inner = ~np.isin(eos, sample_last)
    starts = np.sort(np.concatenate((offsets[:-1], eos[inner] + 1)))
    cut_last = sample_last[x[sample_last] != eos_id]
    ends = np.sort(np.concatenate((eos, cut_last)))
    sample = np.searchsorted(offsets, starts, side="right") - 1
    starts = starts + (x[starts] == cls_id)
    base = offsets[sample]
    return np.stack([sample, starts - base, np.maximum(ends, starts) - base], axis=1)


def assign_to_documents(room: list[int], lengths: list[int]) -> list[list[int]]:
    """GLM's split of one sample's span lengths over its documents, plus a home for leftovers.

    Documents are visited shortest first; each but the longest takes lengths (in list order)
    while their sum stays within 15% of its room; the longest then takes lengths while they fit
    with one separating token each. GLM drops the whole sample when lengths are left over,
    shrinking the batch; here each leftover goes where most room is free, shortened if need be.
    (`assign_lengths` does the same for a whole batch; this is its slow path for leftovers.)
    """
    per_doc: list[list[int]] = [[] for _ in room]
    order = sorted(range(len(room)), key=room.__getitem__)
    i = 0
    for d in order[:-1]:
        budget, used = int(room[d] * SHORT_DOC_RATIO), 0
        while i < len(lengths) and used + lengths[i] <= budget:
            used += lengths[i]
            per_doc[d].append(lengths[i])
            i += 1
    last, used = order[-1], 0
    while i < len(lengths) and used + lengths[i] + len(per_doc[last]) + 1 <= room[last]:
        used += lengths[i]
        per_doc[last].append(lengths[i])
        i += 1
    for length in lengths[i:]:
        free = [room[d] - sum(p) - len(p) for d, p in enumerate(per_doc)]
        d = max(range(len(free)), key=free.__getitem__)
        if free[d] >= 1:
            per_doc[d].append(min(length, free[d]))
    return per_doc


def assign_lengths(regions: np.ndarray, lengths: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """GLM's rule (see `assign_to_documents`) for every sample at once.

    Returns `[b, m]`: the region (row of `regions`) each drawn length goes to, -1 if none.
    Documents are taken by rank (each sample's shortest first) in one pass per rank.
    """
    b, m = lengths.shape
    sample, room = regions[:, 0], regions[:, 2] - regions[:, 1]
    order = np.lexsort((room, sample))
    docs = np.bincount(sample, minlength=b)
    rank = np.arange(len(order)) - (np.cumsum(docs) - docs)[sample[order]]
    cum = np.concatenate((np.zeros((b, 1), dtype=np.int64), np.cumsum(lengths, axis=1)), axis=1)
    col = np.arange(m + 1)
    where = np.full((b, m), -1, dtype=np.int64)
    pointer = np.zeros(b, dtype=np.int64)
    for r in range(int(docs.max(initial=0))):
        region = order[rank == r]
        s, p = sample[region], pointer[sample[region]]
        last = r == docs[s] - 1
        limit = np.where(last, room[region], (room[region] * SHORT_DOC_RATIO).astype(np.int64))
        steps = col - p[:, None]
        used = cum[s] - cum[s, p][:, None] + np.where(last[:, None], steps, 0)
        fits = (used <= limit[:, None]) & (steps >= 0) & (col <= counts[s][:, None])
        end = p + fits.sum(axis=1) - 1  # the lengths that fit form a run from the pointer
        take = (steps[:, :-1] >= 0) & (col[:-1] < end[:, None])
        where[s] = np.where(take, region[:, None], where[s])
        pointer[s] = end
    return where


def place_in_groups(
    group: np.ndarray,
    lengths: np.ndarray,
    offset: np.ndarray,
    room: np.ndarray,
    rng: np.random.Generator,
) -> np.ndarray:
    """Starts of spans laid out in groups (one group = one document region).

    The spans of a group (contiguous, in list order) keep their order and at least one token
    between them; the gaps are sorted uniform draws, so every such placement is possible.
    `offset` and `room` are per group id. Needs `sum(lengths) + count - 1 <= room` per group.
    """
    count = np.bincount(group, minlength=len(room))
    total = np.bincount(group, weights=lengths, minlength=len(room)).astype(np.int64)
    slack = (room - total - count + 1)[group]
    places = np.floor(rng.random(len(group)) * (slack + 1)).astype(np.int64)
    places = places[np.lexsort((places, group))]  # sorted within each group
    step = np.cumsum(lengths + 1) - (lengths + 1)
    group_first = np.searchsorted(group, group, side="left")
    return offset[group] + places + step - step[group_first]


def _leftover_spans(regions, rows, lengths, counts) -> tuple[list, list, list]:
    """(region, length) pairs for samples whose lengths do not all fit, by the slow path."""
    spans_region, spans_length, spans_order = [], [], []
    for i in rows.tolist():
        mine = np.flatnonzero(regions[:, 0] == i)
        rooms = (regions[mine, 2] - regions[mine, 1]).tolist()
        drawn = lengths[i, : counts[i]].tolist()
        for d, doc_lengths in enumerate(assign_to_documents(rooms, drawn)):
            spans_region += [int(mine[d])] * len(doc_lengths)
            spans_length += doc_lengths
            spans_order += list(range(len(doc_lengths)))
    return spans_region, spans_length, spans_order


def bert_span_table(
    batch: RaggedBatch,
    cdf: np.ndarray,
    single_span: bool,
    eos_id: int,
    cls_id: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Token spans for mode `bert`: 15% of each sample, or one span per sample."""
    n = batch.lengths
    targets = np.ones_like(n) if single_span else (BERT_RATIO * n).astype(np.int64)
    lengths, counts = draw_span_lengths(cdf, targets, rng)
    regions = batch_regions(batch, eos_id, cls_id)
    where = assign_lengths(regions, lengths, counts)
    placed = (where >= 0).sum(axis=1)
    short = np.flatnonzero(placed < counts)  # rare: GLM would drop these samples
    where[short] = -1
    rows, cols = np.nonzero(where >= 0)
    region, length, order = where[rows, cols], lengths[rows, cols], cols
    if len(short):
        extra = _leftover_spans(regions, short, lengths, counts)
        region, length, order = (
            np.concatenate((a, b)) for a, b in zip((region, length, order), extra, strict=True)
        )
    by_group = np.lexsort((order, region))
    region, length = region[by_group].astype(np.int64), length[by_group].astype(np.int64)
    starts = place_in_groups(region, length, regions[:, 1], regions[:, 2] - regions[:, 1], rng)
    return sort_table(np.stack([regions[region, 0], starts, starts + length], axis=1))
