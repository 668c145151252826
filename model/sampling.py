"""Choosing the next token: logits processors, temperature / top-k / top-p, greedy or sampled.

Processors take the tokens generated so far ``[rows, t]`` (the span only, without ``[sop]``) and
the scores ``[rows, V]`` and return the scores with forbidden tokens set to ``-inf``. Every
function works row by row, so a batch of texts behaves like the same texts one at a time.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

NEG_INF = float("-inf")


class LogitsProcessor(Protocol):
    def __call__(self, generated: torch.Tensor, scores: torch.Tensor) -> torch.Tensor: ...


@dataclass(frozen=True)
class MinLengthProcessor:
    """Forbid the stop tokens while fewer than ``min_length`` tokens have been generated."""

    min_length: int
    stop_ids: tuple[int, ...]

    def __call__(self, generated: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        if generated.shape[1] < self.min_length:
            scores[:, list(self.stop_ids)] = NEG_INF
        return scores


@dataclass(frozen=True)
class NoRepeatNGramProcessor:
    """Forbid a token that would repeat an n-gram already in the generated tokens (fairseq)."""

    ngram_size: int

    def __call__(self, generated: torch.Tensor, scores: torch.Tensor) -> torch.Tensor:
        n, length = self.ngram_size, generated.shape[1]
        if length + 1 < n:
            return scores
        for row, tokens in enumerate(generated.tolist()):
            prefix = tokens[length - n + 1 :]
            banned = [
                tokens[i + n - 1] for i in range(length - n + 1) if tokens[i : i + n - 1] == prefix
            ]
            if banned:
                scores[row, banned] = NEG_INF
        return scores


def build_logits_processors(
    min_length: int, no_repeat_ngram_size: int, stop_ids: Sequence[int]
) -> list[LogitsProcessor]:
    processors: list[LogitsProcessor] = []
    if min_length > 0:
        processors.append(MinLengthProcessor(min_length, tuple(stop_ids)))
    if no_repeat_ngram_size > 0:
        processors.append(NoRepeatNGramProcessor(no_repeat_ngram_size))
    return processors


def apply_processors(
    processors: Sequence[LogitsProcessor], generated: torch.Tensor, scores: torch.Tensor
) -> torch.Tensor:
    for processor in processors:
        scores = processor(generated, scores)
    return scores


def filter_logits(logits: torch.Tensor, top_k: int = 0, top_p: float = 0.0) -> torch.Tensor:
    """Keep the ``top_k`` largest logits of each row and/or its nucleus of mass ``top_p``.

    Removed entries become ``-inf``; the most likely token always survives. ``0`` disables a
    filter. Works on ``[rows, V]`` (every row is filtered on its own).
    """
    if top_k > 0:
        kth = torch.topk(logits, min(top_k, logits.shape[-1]), dim=-1).values[..., -1:]
        logits = logits.masked_fill(logits < kth, NEG_INF)
    if top_p > 0.0:
        sorted_logits, order = torch.sort(logits, dim=-1, descending=True)
        cumulative = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
        remove_sorted = cumulative > top_p
        # Shift right: the token that crosses the threshold stays, and so does the first one.
        remove_sorted[..., 1:] = remove_sorted[..., :-1].clone()
        remove_sorted[..., 0] = False
        remove = torch.zeros_like(remove_sorted).scatter(-1, order, remove_sorted)
        logits = logits.masked_fill(remove, NEG_INF)
    return logits


@dataclass(frozen=True)
class TokenSampler:
    """Greedy when ``top_k == 1``; otherwise temperature, top-k/top-p and a seeded draw."""

    temperature: float = 1.0
    top_k: int = 0
    top_p: float = 0.0

    @property
    def greedy(self) -> bool:
        return self.top_k == 1

    def warp(self, logits: torch.Tensor) -> torch.Tensor:
        """Temperature then top-k/top-p filtering, in float32."""
        return filter_logits(logits.float() / self.temperature, self.top_k, self.top_p)

    def choose(self, logits: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """One token per row of ``logits`` ``[rows, V]``."""
        if self.greedy:
            return logits.argmax(dim=-1)
        probs = self.warp(logits).softmax(dim=-1)
        return torch.multinomial(probs, 1, generator=generator).squeeze(1)
