"""Continuous batching of blank filling: requests join and leave the batch between steps.

Every row of the batch is one request at its own place: which blank it fills, how many tokens
of it are out. A step feeds one token per row (``[sop]`` when a row starts a blank, else the
token it drew last) through ``model.generation.step_logits`` on a ``SlotCache``, then each row
picks its next token with its own settings. A row that ends a blank starts the next one at the
following step; a row that has filled all its blanks leaves, and its slot is free for a new
request. Spans end exactly as in ``model.generation.generate_span`` (a stop token is neither
kept nor fed; the token reaching ``out_seq_length`` is kept, never fed), so each request gets
the fills it would get alone with ``model.blank_filling.fill_blanks``.

Beam search keeps ``num_beams`` rows per request and reorders them, so beam requests are not
part of the step batch: ``fill_with_beams`` decodes them with ``fill_blank_ids``, together
when they share settings.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch

from model import GLMModel
from model.blank_filling import BlankInput, fill_blank_ids
from model.generation import GenerationConfig, SpanOutput, model_device, prefill, step_logits
from model.sampling import apply_processors
from serving.slots import SlotCache


@dataclass(frozen=True)
class SpecialIds:
    sop: int
    eop: int
    eos: int
    pad: int

    @property
    def stops(self) -> tuple[int, int]:
        return (self.eop, self.eos)


@dataclass(frozen=True)
class Admission:
    """A request entering the batch (everything every rank needs to decode it)."""

    job_id: int
    blank: BlankInput
    config: GenerationConfig


@dataclass(frozen=True)
class TokenEvent:
    job_id: int
    blank: int
    token_id: int


@dataclass(frozen=True)
class SpanEvent:
    job_id: int
    blank: int
    span: SpanOutput


@dataclass(frozen=True)
class FinishEvent:
    job_id: int
    spans: list[SpanOutput]


Event = TokenEvent | SpanEvent | FinishEvent


class _Row:
    """One request's decoding state."""

    def __init__(self, admission: Admission, ids: SpecialIds, device: torch.device):
        config = admission.config
        self.job_id, self.blank, self.config = admission.job_id, admission.blank, config
        self.greedy = config.sampler.greedy
        self.generator = None if self.greedy else config.make_generator(device)
        self.processors = config.logits_processors(ids.stops)
        self.blank_index = 0
        self.span: list[int] = []  # the current blank's tokens so far
        self.spans: list[SpanOutput] = []
        self.feed = ids.sop  # the token the next step feeds

    def position(self) -> tuple[int, int]:
        """(position, block position) of the token fed next."""
        block = 1 if self.config.no_block_position else len(self.span) + 1
        return self.blank.mask_positions[self.blank_index], block


class BatchDecoder:
    def __init__(self, model: GLMModel, ids: SpecialIds, max_rows: int):
        self.model, self.ids, self.max_rows = model, ids, max_rows
        self.device = model_device(model)
        self.cache = SlotCache(model, max_rows)
        self.rows: list[_Row] = []
        self.steps = self.decoded_tokens = 0  # steps run, tokens drawn (one per row a step)

    @property
    def free_rows(self) -> int:
        return self.max_rows - len(self.rows)

    def admit(self, admissions: Sequence[Admission]) -> None:
        """Encode the new requests' contexts into free slots (one pass for all of them)."""
        if not admissions:
            return
        if len(admissions) > self.free_rows:
            raise ValueError(f"{len(admissions)} requests for {self.free_rows} free rows")
        contexts = [a.blank.context_ids for a in admissions]
        self.cache.begin_prefill(len(self.rows), [len(c) for c in contexts])
        prefill(self.model, self.cache, contexts, self.ids.pad)
        self.rows += [_Row(a, self.ids, self.device) for a in admissions]

    def drop(self, job_ids: Sequence[int]) -> None:
        """Free the rows of these requests (cancelled); unknown ids are ignored."""
        gone = set(job_ids)
        self._remove([i for i, row in enumerate(self.rows) if row.job_id in gone])

    def step(self) -> list[Event]:
        """One token for every row; what happened, in row order."""
        rows = self.rows
        tokens = torch.tensor([r.feed for r in rows], device=self.device)
        positions = torch.tensor([r.position() for r in rows], device=self.device)
        self.cache.begin_step(len(rows))
        logits = step_logits(self.model, self.cache, tokens, positions.view(-1, 2, 1))
        self.steps += 1
        self.decoded_tokens += len(rows)
        events: list[Event] = []
        finished = []
        for i, (row, token) in enumerate(zip(rows, self._choose(logits), strict=True)):
            events += self._advance(row, token)
            if row.blank_index == len(row.blank.mask_positions):
                finished.append(i)
        self._remove(finished)
        return events

    def _choose(self, logits: torch.Tensor) -> list[int]:
        """Each row's next token under its own settings: processors per row, one argmax for
        the greedy rows, and a draw from its own generator for each sampled row (so a seeded
        request draws the same tokens whatever else is in the batch)."""
        rows = self.rows
        for i, row in enumerate(rows):
            if row.processors:
                done = torch.tensor([row.span], dtype=torch.long, device=self.device)
                logits[i : i + 1] = apply_processors(row.processors, done, logits[i : i + 1])
        chosen = logits.argmax(dim=-1)
        for i, row in enumerate(rows):
            if not row.greedy:
                chosen[i] = row.config.sampler.choose(logits[i : i + 1], row.generator)[0]
        return chosen.tolist()

    def _advance(self, row: _Row, token: int) -> list[Event]:
        events: list[Event] = []
        stopped = token in self.ids.stops
        if not stopped:
            row.span.append(token)
            events.append(TokenEvent(row.job_id, row.blank_index, token))
        if not stopped and len(row.span) < row.config.out_seq_length:
            row.feed = token
            return events
        span = SpanOutput(row.span, token if stopped else None)
        events.append(SpanEvent(row.job_id, row.blank_index, span))
        row.spans.append(span)
        row.blank_index, row.span, row.feed = row.blank_index + 1, [], self.ids.sop
        if row.blank_index == len(row.blank.mask_positions):
            events.append(FinishEvent(row.job_id, row.spans))
        return events

    def _remove(self, indices: Sequence[int]) -> None:
        """Free rows; the last row moves into each hole, so rows in use stay at the front.
        Going from the highest index down, the last row is never one still to be removed."""
        for index in sorted(indices, reverse=True):
            last = len(self.rows) - 1
            if index != last:
                self.cache.move(last, index)
                self.rows[index] = self.rows[last]
            self.cache.clear(last)
            self.rows.pop()


def fill_with_beams(
    model: GLMModel, ids: SpecialIds, admissions: Sequence[Admission]
) -> list[FinishEvent]:
    """Beam-search requests, decoded outside the step batch; one batch per distinct setting."""
    groups: dict[GenerationConfig, list[Admission]] = {}
    for admission in admissions:
        groups.setdefault(admission.config, []).append(admission)
    events = []
    for config, group in groups.items():
        spans = fill_blank_ids(
            model,
            [a.blank.context_ids for a in group],
            [a.blank.mask_positions for a in group],
            config,
            sop_id=ids.sop,
            stop_ids=ids.stops,
            pad_id=ids.pad,
        )
        events += [FinishEvent(a.job_id, s) for a, s in zip(group, spans, strict=True)]
    return events
