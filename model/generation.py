"""Incremental decoding of GLM spans on a KV cache: prefill, greedy/sampled spans, blank filling.

GLM generates a span (a blank's fill, a seq2seq target) as Part B: the context is encoded once
(Part A, bidirectional), then ``[sop]`` is fed at the position of the span's mask token with
block position 1, and each generated token is fed with block position 2, 3, ... . A span ends
when a stop token is drawn (it is neither kept nor fed) or after ``out_seq_length`` tokens; in
that case the last token is kept but never fed, so later spans do not see it (as GLM does).
Later spans see every earlier span through the cache, exactly the Part-B layout of pretraining.

Batches of rows of different lengths share one cache: the context is right-padded and padding
keys, like the positions fed to a row that has already stopped, are hidden by the cache's key
mask. Rows therefore give the same tokens batched as alone. The token-level functions here are
what seq2seq decoding reuses; ``model/beam_search.py`` adds beam search and
``model/blank_filling.py`` fills the blanks of texts.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model.glm import GLMModel
from model.kv_cache import KVCache
from model.sampling import LogitsProcessor, TokenSampler, apply_processors, build_logits_processors
from mpu import gather_from_model_parallel_region


@dataclass(frozen=True)
class GenerationConfig:
    """Decoding settings (the generation flags, spec §9)."""

    out_seq_length: int = 256  # --out-seq-length: most tokens per span
    temperature: float = 1.0  # --temperature
    top_k: int = 0  # --top-k (1 = greedy)
    top_p: float = 0.0  # --top-p
    num_beams: int = 1  # --num-beams
    length_penalty: float = 0.0  # --length-penalty: beam score = sum(logp) / len**penalty
    no_repeat_ngram_size: int = 0  # --no-repeat-ngram-size
    min_tgt_length: int = 0  # --min-tgt-length: no stop token before this many tokens
    no_block_position: bool = False  # --no-block-position: every span token has block position 1
    seed: int = 1234  # --seed: seeds the sampling generator

    def __post_init__(self) -> None:
        checks = (
            (self.out_seq_length >= 1, f"--out-seq-length {self.out_seq_length} must be >= 1"),
            (self.temperature > 0, f"--temperature {self.temperature} must be > 0"),
            (self.top_k >= 0, f"--top-k {self.top_k} must be >= 0 (0 = off, 1 = greedy)"),
            (0.0 <= self.top_p <= 1.0, f"--top-p {self.top_p} must be in [0, 1] (0 = off)"),
            (self.num_beams >= 1, f"--num-beams {self.num_beams} must be >= 1"),
            (self.no_repeat_ngram_size >= 0, "--no-repeat-ngram-size must be >= 0"),
            (self.min_tgt_length >= 0, "--min-tgt-length must be >= 0"),
        )
        for ok, message in checks:
            if not ok:
                raise ValueError(message)

    @property
    def sampler(self) -> TokenSampler:
        return TokenSampler(self.temperature, self.top_k, self.top_p)

    def logits_processors(self, stop_ids: Sequence[int]) -> list[LogitsProcessor]:
        return build_logits_processors(self.min_tgt_length, self.no_repeat_ngram_size, stop_ids)

    def make_generator(self, device: torch.device | str = "cpu") -> torch.Generator:
        return torch.Generator(device=device).manual_seed(self.seed)


@dataclass(frozen=True)
class SpanOutput:
    """One generated span: its tokens (no ``[sop]``, no stop token) and how it ended."""

    ids: list[int]
    stop_id: int | None  # the token that ended it; None when out_seq_length was reached
    score: float | None = None  # beam search: sum(log p) / len**length_penalty

    @property
    def fed_ids(self) -> list[int]:
        """The tokens after ``[sop]`` that went into the cache (the length-limit one did not)."""
        return self.ids if self.stop_id is not None else self.ids[:-1]


def model_device(model: GLMModel) -> torch.device:
    return model.word_embeddings.weight.device


def span_positions(
    mask_positions: torch.Tensor, first_block: int, length: int, no_block_position: bool = False
) -> torch.Tensor:
    """``[b, 2, length]``: every token at its mask's position, block positions from
    ``first_block`` (all 1 with ``no_block_position``)."""
    b = mask_positions.shape[0]
    block = torch.arange(first_block, first_block + length, device=mask_positions.device)
    if no_block_position:
        block = torch.ones_like(block)
    return torch.stack(
        [mask_positions.view(b, 1).expand(b, length), block.view(1, length).expand(b, length)], 1
    )


def step_logits(
    model: GLMModel, cache: KVCache, tokens: torch.Tensor, positions: torch.Tensor
) -> torch.Tensor:
    """Feed one token per row (``tokens [b]``, ``positions [b, 2, 1]``); full-vocab logits
    ``[b, V]`` in float32, gathered across tensor-parallel ranks when they are sharded."""
    logits = model(tokens.view(-1, 1), positions, 0, kv_cache=cache)[:, -1]
    if model.config.parallel_output:
        logits = gather_from_model_parallel_region(logits)
    return logits.float()


def _encode_into_cache(
    model: GLMModel,
    cache: KVCache,
    tokens: torch.Tensor,
    positions: torch.Tensor,
    sep: torch.Tensor | int,
) -> None:
    """Run the transformer over new tokens to fill the cache, skipping the vocabulary
    projection that nobody reads (the largest matmul of a long context)."""
    hidden = model.word_embeddings(tokens)
    model.transformer(hidden, positions, sep, cache)


def ensure_key_mask(cache: KVCache) -> torch.Tensor:
    """The cache's key mask, created all-visible if absent."""
    if cache.key_mask is None:
        device = cache.keys[0].device
        cache.set_key_mask(
            torch.ones(cache.batch_size, cache.max_length, dtype=torch.bool, device=device)
        )
    return cache.key_mask


def prefill(
    model: GLMModel, cache: KVCache, contexts: Sequence[Sequence[int]], pad_id: int
) -> None:
    """Encode the contexts (Part A, bidirectional, positions ``0..n-1``) into an empty cache.

    Rows may differ in length: they are right-padded with ``pad_id`` and the padding is hidden.
    """
    device = model_device(model)
    lengths = torch.tensor([len(c) for c in contexts], device=device)
    width = int(max(len(c) for c in contexts))
    tokens = torch.full((len(contexts), width), pad_id, dtype=torch.long)
    for row, ids in enumerate(contexts):
        tokens[row, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
    positions = torch.stack(
        [
            torch.arange(width).expand(len(contexts), width),
            torch.zeros(len(contexts), width, dtype=torch.long),
        ],
        1,
    )
    if len(contexts) > 1:
        ensure_key_mask(cache)[:, :width] = torch.arange(width, device=device) < lengths[:, None]
    _encode_into_cache(model, cache, tokens.to(device), positions.to(device), lengths)


def feed_spans(
    model: GLMModel,
    cache: KVCache,
    spans: Sequence[Sequence[int]],
    mask_positions: torch.Tensor,
    pad_id: int,
    no_block_position: bool = False,
) -> None:
    """Append one span per row (``[sop] + tokens``, possibly empty) to the cache in one pass."""
    width = max(len(s) for s in spans)
    if width == 0:
        return
    device = model_device(model)
    tokens = torch.full((len(spans), width), pad_id, dtype=torch.long)
    for row, ids in enumerate(spans):
        tokens[row, : len(ids)] = torch.as_tensor(list(ids), dtype=torch.long)
    if len(spans) > 1:
        lengths = torch.tensor([len(s) for s in spans], device=device)
        valid = torch.arange(width, device=device) < lengths[:, None]
        ensure_key_mask(cache)[:, cache.length : cache.length + width] = valid
    positions = span_positions(mask_positions, 1, width, no_block_position)
    _encode_into_cache(model, cache, tokens.to(device), positions, 0)


def generate_span(
    model: GLMModel,
    cache: KVCache,
    start_ids: torch.Tensor,
    mask_positions: torch.Tensor,
    config: GenerationConfig,
    stop_ids: Sequence[int],
    *,
    generator: torch.Generator | None = None,
    active: torch.Tensor | None = None,
    logits_processors: Sequence[LogitsProcessor] | None = None,
) -> list[SpanOutput]:
    """Greedy (``top_k == 1``) or sampled decoding of one span per row of ``cache``.

    ``start_ids [b]`` is fed first (``[sop]``) at ``mask_positions [b]`` with block position 1.
    Rows with ``active`` False generate nothing (their fed positions are hidden). At most
    ``config.out_seq_length`` tokens per row; the cache must have room for that many more.
    The only host sync per step is the "all rows stopped?" check.
    """
    b, device = start_ids.shape[0], start_ids.device
    limit = config.out_seq_length
    stop = torch.tensor(list(stop_ids), dtype=torch.long, device=device)
    processors = (
        config.logits_processors(stop_ids) if logits_processors is None else logits_processors
    )
    sampler = config.sampler
    active = torch.ones(b, dtype=torch.bool, device=device) if active is None else active.clone()
    key_mask = ensure_key_mask(cache) if b > 1 else cache.key_mask
    positions = span_positions(mask_positions, 1, limit, config.no_block_position)
    generated = torch.zeros(b, limit, dtype=torch.long, device=device)
    counts = torch.zeros(b, dtype=torch.long, device=device)
    stopped_by = torch.full((b,), -1, dtype=torch.long, device=device)
    tokens = start_ids
    for t in range(limit):
        if key_mask is not None:
            key_mask[:, cache.length] = active
        logits = step_logits(model, cache, tokens, positions[:, :, t : t + 1])
        logits = apply_processors(processors, generated[:, :t], logits)
        next_ids = sampler.choose(logits, generator)
        is_stop = torch.isin(next_ids, stop) & active
        stopped_by = torch.where(is_stop, next_ids, stopped_by)
        active = active & ~is_stop
        generated[:, t] = next_ids
        counts += active
        if t + 1 == limit or not bool(active.any()):
            break
        tokens = next_ids
    rows = zip(generated.tolist(), counts.tolist(), stopped_by.tolist(), strict=True)
    return [SpanOutput(ids[:n], None if s < 0 else s) for ids, n, s in rows]
