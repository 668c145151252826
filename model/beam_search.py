"""Deterministic beam search over a GLM span, with HF-style finished hypotheses.

Each of the ``b`` rows of the cache becomes ``K = num_beams`` beams. Per step, every beam's
next-token log-probabilities (temperature / top-k / top-p, ``log_softmax``, then the logits
processors: minimum length, no-repeat n-gram) are added to its running sum, and the best
(beam, token) pairs of the row are taken with ``topk`` (never sampled). Walking them best
first, a stop token among the first ``K`` finishes a hypothesis; other tokens extend the next
``K`` beams. A hypothesis scores ``sum(log p) / max(len, 1) ** length_penalty`` (``len`` = its
tokens, stop token excluded); a row keeps its ``K`` best. A row is done once it holds ``K``
hypotheses and its best running sum, normalised by the current length, cannot beat the worst
of them (``early_stopping=False``). At ``out_seq_length`` the unfinished beams join as
hypotheses (their last token was never fed, as in greedy decoding).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from model.generation import GenerationConfig, SpanOutput, span_positions, step_logits
from model.glm import GLMModel
from model.kv_cache import KVCache
from model.sampling import LogitsProcessor, apply_processors


class Hypotheses:
    """The best ``num_beams`` finished hypotheses of one row."""

    def __init__(self, num_beams: int, length_penalty: float):
        self.num_beams = num_beams
        self.length_penalty = length_penalty
        self.items: list[SpanOutput] = []

    def normalise(self, sum_logprobs: float, length: int) -> float:
        return sum_logprobs / max(length, 1) ** self.length_penalty

    def add(self, ids: list[int], sum_logprobs: float, stop_id: int | None) -> None:
        if math.isinf(sum_logprobs):
            return  # a candidate every filter removed is no hypothesis
        item = SpanOutput(ids, stop_id, self.normalise(sum_logprobs, len(ids)))
        if len(self.items) < self.num_beams:
            self.items.append(item)
        elif item.score > self.worst:
            self.items.remove(min(self.items, key=lambda h: h.score))
            self.items.append(item)

    @property
    def worst(self) -> float:
        return min(h.score for h in self.items)

    def is_done(self, best_running: float, length: int) -> bool:
        if len(self.items) < self.num_beams:
            return False
        return self.worst >= self.normalise(best_running, length)

    def ranked(self) -> list[SpanOutput]:
        return sorted(self.items, key=lambda h: h.score, reverse=True)


def _select(
    hyps: list[Hypotheses],
    done: list[bool],
    paths: list[list[int]],
    top_scores: list[list[float]],
    top_index: list[list[int]],
    vocab: int,
    stop_ids: set[int],
    pad_id: int,
) -> tuple[list[int], list[int], list[float]]:
    """Next beams of every row: (source beam rows, their new tokens, running sums)."""
    beams = len(paths) // len(hyps)
    sources: list[int] = []
    tokens: list[int] = []
    sums: list[float] = []
    for i, row_hyps in enumerate(hyps):
        if done[i]:  # finished rows idle on padding
            sources += [i * beams] * beams
            tokens += [pad_id] * beams
            sums += [0.0] * beams
            continue
        kept = 0
        for rank, (score, index) in enumerate(zip(top_scores[i], top_index[i], strict=True)):
            beam, token = divmod(index, vocab)
            row = i * beams + beam
            if token in stop_ids:
                if rank < beams:
                    row_hyps.add(paths[row], score, token)
                continue
            sources.append(row)
            tokens.append(token)
            sums.append(score)
            kept += 1
            if kept == beams:
                break
        done[i] = row_hyps.is_done(top_scores[i][0], len(paths[i * beams]) + 1)
    return sources, tokens, sums


def beam_search_hypotheses(
    model: GLMModel,
    cache: KVCache,
    start_ids: torch.Tensor,
    mask_positions: torch.Tensor,
    config: GenerationConfig,
    stop_ids: Sequence[int],
    pad_id: int,
    *,
    active: torch.Tensor | None = None,
    logits_processors: Sequence[LogitsProcessor] | None = None,
) -> list[list[SpanOutput]]:
    """Beam search of one span per row of ``cache``; every row's hypotheses, best first.

    Arguments as ``generate_span``. The cache is expanded to ``b * num_beams`` rows and left
    holding the beams of the last step (callers that continue rewind it and feed the winner).
    Rows with ``active`` False get no hypotheses.
    """
    b, beams, device = start_ids.shape[0], config.num_beams, start_ids.device
    processors = (
        config.logits_processors(stop_ids) if logits_processors is None else logits_processors
    )
    expand = torch.arange(b, device=device).repeat_interleave(beams)
    cache.reorder(expand)
    positions = span_positions(
        mask_positions[expand], 1, config.out_seq_length, config.no_block_position
    )
    running = torch.zeros(b, beams, device=device)
    running[:, 1:] = float("-inf")  # the first step expands beam 0 only
    running = running.view(-1)
    hyps = [Hypotheses(beams, config.length_penalty) for _ in range(b)]
    done = [False] * b if active is None else [not a for a in active.tolist()]
    paths: list[list[int]] = [[] for _ in range(b * beams)]
    history = torch.zeros(b * beams, 0, dtype=torch.long, device=device)
    candidates = beams * (1 + len(set(stop_ids)))  # always enough non-stop candidates
    tokens = start_ids[expand]
    for t in range(config.out_seq_length):
        logits = step_logits(model, cache, tokens, positions[:, :, t : t + 1])
        logprobs = config.sampler.warp(logits).log_softmax(dim=-1)
        logprobs = apply_processors(processors, history, logprobs)
        vocab = logprobs.shape[-1]
        total = (logprobs + running[:, None]).view(b, beams * vocab)
        top_scores, top_index = total.topk(candidates, dim=1)
        sources, new_tokens, sums = _select(
            hyps,
            done,
            paths,
            top_scores.tolist(),
            top_index.tolist(),
            vocab,
            set(stop_ids),
            pad_id,
        )
        paths = [paths[s] + [tok] for s, tok in zip(sources, new_tokens, strict=True)]
        index = torch.tensor(sources, device=device)
        tokens = torch.tensor(new_tokens, device=device)
        history = torch.cat([history[index], tokens[:, None]], dim=1)
        running = torch.tensor(sums, device=device)
        if all(done) or t + 1 == config.out_seq_length:
            break
        cache.reorder(index)
    for i in range(b):
        if not done[i]:
            for row in range(i * beams, (i + 1) * beams):
                hyps[i].add(paths[row], float(running[row]), None)
    return [h.ranked() for h in hyps]


def beam_search(
    model: GLMModel,
    cache: KVCache,
    start_ids: torch.Tensor,
    mask_positions: torch.Tensor,
    config: GenerationConfig,
    stop_ids: Sequence[int],
    pad_id: int,
    *,
    active: torch.Tensor | None = None,
    logits_processors: Sequence[LogitsProcessor] | None = None,
) -> list[SpanOutput]:
    """The best hypothesis of each row (an empty span for inactive rows)."""
    ranked = beam_search_hypotheses(
        model,
        cache,
        start_ids,
        mask_positions,
        config,
        stop_ids,
        pad_id,
        active=active,
        logits_processors=logits_processors,
    )
    return [r[0] if r else SpanOutput([], None) for r in ranked]
