"""The blank-infilling pipeline: one seeded batch of GLM's pretraining objectives.

Per batch one objective is drawn (spec §7.1) and applied to every sample:

- `bert` (`--bert-prob`): Poisson(`--avg-block-length`) token spans covering 15% of the tokens,
  each replaced by `[MASK]`; `--single-span-prob` makes it one span per sample;
- `sentence` (`--gap-sentence-prob`): whole sentences covering `--gap-sentence-ratio`, `[sMASK]`;
- `gpt` (the rest): one long span, `[gMASK]`; a suffix with probability `--gpt-infill-prob`
  (always for samples holding several documents), otherwise placed inside the document.

`build_glm_batch(samples, config, ids, rng)` is a pure function of its arguments;
`BlankInfillingCollator` is the DataLoader `collate_fn` that derives the rng from
`(seed, batch index, data-parallel rank)` and can be set to resume at a consumed-batch count.

Where GLM's builder is fragile this one differs on purpose: the batch size never changes (samples
whose spans do not fit get fewer or shorter spans instead of being dropped; `--short-seq-prob`
cuts one short window per sample instead of multiplying the batch), every random draw comes from
the batch rng (also `--block-mask-prob`), `--no-block-position` works in every mode, masked-LM
batches pad their 1-D positions.
"""

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
import torch.utils.data

from data_utils.blank_infilling.batch import BatchArrays, GLMBatch
from data_utils.blank_infilling.config import SHORT_SEQ_MIN, InfillIds, MaskingConfig
from data_utils.blank_infilling.layout import (
    lay_out_blocks,
    lay_out_masked,
    mask_context,
    mask_span_inputs,
    part_a_lengths,
)
from data_utils.blank_infilling.spans import (
    RaggedBatch,
    gpt_span_table,
    sentence_span_table,
    short_window,
    span_length_cdf,
)
from data_utils.blank_infilling.token_spans import bert_span_table


@lru_cache(maxsize=8)
def _length_cdf(avg_block_length: float) -> np.ndarray:
    return span_length_cdf(avg_block_length)


def _sentinel_ids(plain: int, sentinels: tuple[int, ...], rank: np.ndarray) -> np.ndarray:
    """`plain` for a sample's first Part-B span, its k-th sentinel token for the k-th after it."""
    if rank.size and rank.max() > len(sentinels):
        raise ValueError(
            f"a sample has {rank.max() + 1} spans but there are only "
            f"{len(sentinels) + 1} sentinel tokens"
        )
    return np.where(rank > 0, np.asarray(sentinels + (plain,))[rank - 1], plain)


def lay_out(
    batch: RaggedBatch,
    spans: np.ndarray,
    task: str,
    config: MaskingConfig,
    ids: InfillIds,
    rng: np.random.Generator,
    suffix: np.ndarray | None = None,
) -> BatchArrays:
    """Order each sample's spans for Part B, choose mask/sop ids and positions, lay out."""
    if config.shuffle_blocks:
        order = np.lexsort((rng.random(len(spans)), spans[:, 0]))
        spans = spans[order]
        suffix = None if suffix is None else suffix[order]
    mask_ids = np.full(len(spans), ids.task_mask_id(task, config))
    sop_ids = np.full(len(spans), ids.sop)
    if config.sentinel_token:
        rank = np.arange(len(spans)) - np.searchsorted(spans[:, 0], spans[:, 0], side="left")
        sop_ids = _sentinel_ids(ids.sop, ids.sentinel_sops, rank)
        if mask_ids[:1].tolist() == [ids.mask]:
            mask_ids = _sentinel_ids(ids.mask, ids.sentinel_masks, rank)
    offsets = None
    if config.random_position:
        last = part_a_lengths(batch.lengths, spans) - 1
        room = config.max_seq_length - last
        offsets = np.where(room > 1, rng.integers(0, np.maximum(room, 1)), 0)
        if suffix is not None:
            offsets[spans[suffix, 0]] = 0  # GLM shifts only the positions of infilled blanks
    return lay_out_blocks(
        batch,
        spans,
        mask_ids,
        sop_ids,
        ids.eop,
        suffix=suffix,
        block_positions=config.block_position_encoding,
        position_offsets=offsets,
        sentinel_position=config.max_seq_length if config.sentinel_token else None,
    )


def bert_batch(
    batch: RaggedBatch,
    config: MaskingConfig,
    ids: InfillIds,
    rng: np.random.Generator,
    single_span: bool = False,
) -> BatchArrays:
    """Token-span blank infilling (mode `bert`, §7.3), or masked LM with `--masked-lm`."""
    cdf = _length_cdf(float(config.avg_block_length))
    spans = bert_span_table(batch, cdf, single_span, ids.eos, ids.cls, rng)
    if config.masked_lm:
        return lay_out_masked(batch, spans, ids.mask)
    out = lay_out(batch, spans, "bert", config, ids, rng)
    if config.block_mask_prob > 0:
        sop_ids = np.array((ids.sop, *ids.sentinel_sops))
        mask_span_inputs(out, config.block_mask_prob, ids.dblock, sop_ids, rng)
    if config.context_mask_ratio > 0:
        counts = (config.context_mask_ratio * batch.lengths).astype(np.int64)
        mask_ids = np.array((ids.mask, *ids.sentinel_masks))
        mask_context(out, counts, mask_ids, (ids.cls, ids.eos), ids.dblock, rng)
    return out


def sentence_batch(
    batch: RaggedBatch, config: MaskingConfig, ids: InfillIds, rng: np.random.Generator
) -> BatchArrays:
    """Gap-sentence blank infilling (mode `sentence`, §7.4)."""
    spans = sentence_span_table(
        batch, ids.sentence_end, config.gap_sentence_ratio, ids.eos, ids.cls, rng
    )
    return lay_out(batch, spans, "sentence", config, ids, rng)


def gpt_batch(
    batch: RaggedBatch, config: MaskingConfig, ids: InfillIds, rng: np.random.Generator
) -> BatchArrays:
    """One long generation span per sample (mode `gpt`, §7.7); its length is shared."""
    lengths = batch.lengths
    low = int(config.gpt_min_ratio * lengths.min())
    length = int(rng.integers(low, max(low, int(lengths.max()) - 2) + 1))
    spans, suffix = gpt_span_table(batch, length, config.gpt_infill_prob, ids.eos, ids.cls, rng)
    return lay_out(batch, spans, "gpt", config, ids, rng, suffix)


def _shorten(samples: list, config: MaskingConfig, ids: InfillIds, rng: np.random.Generator):
    """One window of a random length in [32, seq-2] per sample (§7.6; batch size unchanged).

    GLM cuts `(seq-1) // length` windows from every sample, multiplying the batch size; one
    window per sample keeps it, at the cost of fewer tokens in such batches.
    """
    target = int(rng.integers(SHORT_SEQ_MIN, config.max_seq_length - 1))
    out = []
    for tokens, mask in samples:
        boundary = ids.sentence_end[tokens] | (tokens == ids.eos)
        out.append(short_window(tokens, mask, target, boundary, ids.eos, ids.cls, rng))
    return out


def draw_mode(config: MaskingConfig, rng: np.random.Generator) -> tuple[str, bool]:
    """The objective of one batch and whether it is a single-span batch (§7.1)."""
    if config.single_span_prob > 0 and rng.random() < config.single_span_prob:
        return "bert", True
    u = rng.random()
    if u < config.bert_prob:
        return "bert", False
    if u < config.bert_prob + config.gap_sentence_prob:
        return "sentence", False
    return "gpt", False


def build_glm_batch(
    samples: Sequence[tuple[np.ndarray, np.ndarray]],
    config: MaskingConfig,
    ids: InfillIds,
    rng: np.random.Generator,
) -> GLMBatch:
    """One blank-infilling batch from `(tokens, loss_mask)` samples; a pure function of its args."""
    if config.short_seq_prob > 0 and rng.random() < config.short_seq_prob:
        arrays = [(np.asarray(t, dtype=np.int64), np.asarray(m)) for t, m in samples]
        samples = _shorten(arrays, config, ids, rng)
    batch = RaggedBatch.from_samples(samples)
    mode, single_span = draw_mode(config, rng)
    if mode == "bert":
        out = bert_batch(batch, config, ids, rng, single_span)
    elif mode == "sentence":
        out = sentence_batch(batch, config, ids, rng)
    else:
        out = gpt_batch(batch, config, ids, rng)
    return out.to_batch(mode)


class BlankInfillingCollator:
    """DataLoader `collate_fn`: `(list of samples) -> GLMBatch`, reproducible across resumes.

    Batch `j` of this data-parallel rank (counted from the start of training) uses
    `np.random.default_rng([seed, j, dp_rank])`. DataLoader workers receive batches round-robin,
    so worker `w` of `W` builds batches `start + w, start + w + W, ...`; call
    `set_state(consumed_batches)` before creating the DataLoader iterator to resume.
    """

    def __init__(self, config: MaskingConfig, ids: InfillIds, seed: int, dp_rank: int = 0) -> None:
        ids.check(config)
        self.config, self.ids = config, ids
        self.seed, self.dp_rank = seed, dp_rank
        self._start = 0
        self._count = 0

    def set_state(self, consumed_batches: int) -> None:
        """Resume: the next batch built is batch `consumed_batches` of this rank."""
        self._start, self._count = consumed_batches, 0

    def _next_batch_index(self) -> int:
        info = torch.utils.data.get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        index = self._start + self._count * workers + worker
        self._count += 1
        return index

    def build(self, samples: Sequence, batch_index: int) -> GLMBatch:
        rng = np.random.default_rng([self.seed, batch_index, self.dp_rank])
        return build_glm_batch(samples, self.config, self.ids, rng)

    def __call__(self, samples: Sequence) -> GLMBatch:
        return self.build(samples, self._next_batch_index())
