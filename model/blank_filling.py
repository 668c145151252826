"""Blank filling: a text with ``[MASK]`` / ``[sMASK]`` / ``[gMASK]`` in, every blank filled.

The input conventions are GLM's (spec §12): a text without any ``MASK]`` gets ``" [gMASK]"``
appended (``" [MASK]"`` for a tokenizer without task masks); the context is
``[CLS] + encode(text) + [eos]``, without the eos when the text ends with ``[gMASK]``; blanks
are filled left to right, each one seeing the earlier fills. Unlike GLM, nothing is ever
dropped from the context: a context that leaves no room for ``--out-seq-length`` tokens within
``--max-position-embeddings`` is refused with a message saying so.

``fill_blanks`` / ``fill_blanks_batch`` work on texts (or token ids) with a GLM tokenizer;
``fill_blank_ids`` is the token-level core.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import torch

from model.beam_search import beam_search
from model.generation import (
    GenerationConfig,
    SpanOutput,
    feed_spans,
    generate_span,
    model_device,
    prefill,
)
from model.glm import GLMModel


class BlankTokenizer(Protocol):
    """What blank filling needs from a tokenizer (``data_utils.tokenization.GLMTokenizer``)."""

    cls_id: int
    eos_id: int
    pad_id: int
    sop_id: int
    eop_id: int
    gmask_id: int | None
    blank_mask_ids: tuple[int, ...]
    command_tokens: list

    def encode(self, text: str) -> list[int]: ...
    def decode(self, ids: list[int]) -> str: ...


@dataclass(frozen=True)
class BlankInput:
    """A context ready to fill: its ids and the sorted positions of its blanks."""

    context_ids: tuple[int, ...]
    mask_positions: tuple[int, ...]
    text: str | None = None  # the text as given (None when built from ids)
    effective_text: str | None = None  # the text after GLM appended a mask, if it did


@dataclass(frozen=True)
class FillResult:
    context: str  # the text as given (for ids: their decoding)
    context_ids: list[int]
    mask_positions: list[int]
    fills: list[str]  # decode(fill_ids[j]) per blank
    fill_ids: list[list[int]]  # generated tokens per blank, without [sop] and the stop token
    ended_by: list[str]  # per blank: "eop", "eos" or "length"
    scores: list[float | None]  # beam search: the length-normalised score per blank
    output_ids: list[int]  # [sop] + fill per blank, concatenated (what GLM prints)
    output_text: str  # decode(output_ids): GLM's "GLM:" line
    text: str  # the context with each blank replaced by its fill

    def to_record(self) -> dict:
        """The JSON-lines record of batch mode."""
        return {
            "context": self.context,
            "fills": self.fills,
            "fill_ids": self.fill_ids,
            "text": self.text,
        }


def encode_blank_text(tokenizer: BlankTokenizer, text: str) -> BlankInput:
    """GLM's context for ``text``; a ValueError says what is wrong with an unusable text."""
    if not text.strip():
        raise ValueError("empty text: type a text with [MASK], [sMASK] or [gMASK] blanks")
    effective = text
    if "MASK]" not in text:
        effective = text + (" [gMASK]" if tokenizer.gmask_id is not None else " [MASK]")
    ids = [tokenizer.cls_id, *tokenizer.encode(effective)]
    if not effective.endswith("[gMASK]"):
        ids.append(tokenizer.eos_id)
    built = blank_input_from_ids(tokenizer, ids)
    return BlankInput(built.context_ids, built.mask_positions, text, effective)


def blank_input_from_ids(tokenizer: BlankTokenizer, context_ids: Sequence[int]) -> BlankInput:
    """A context given as ids (``[CLS] ... [eos]``); its blanks are its mask tokens."""
    blank_ids = set(tokenizer.blank_mask_ids)
    positions = tuple(i for i, t in enumerate(context_ids) if t in blank_ids)
    if not positions:
        names = ", ".join(tokenizer.decode([i]) for i in tokenizer.blank_mask_ids)
        raise ValueError(f"the text has no blank to fill: mark one with {names}")
    return BlankInput(tuple(int(i) for i in context_ids), positions)


def check_room(blank: BlankInput, config: GenerationConfig, max_positions: int) -> None:
    """Refuse a context that leaves no room for a full blank (GLM silently dropped its
    beginning instead)."""
    room = max_positions - config.out_seq_length
    if len(blank.context_ids) > room:
        raise ValueError(
            f"the context is {len(blank.context_ids)} tokens but at most {max(room, 0)} fit: "
            f"--max-position-embeddings {max_positions} minus --out-seq-length "
            f"{config.out_seq_length}; shorten the text or lower --out-seq-length"
        )


def prepare_blank_input(
    tokenizer: BlankTokenizer,
    text_or_ids: str | Sequence[int] | BlankInput,
    config: GenerationConfig,
    max_positions: int,
) -> BlankInput:
    """Encode and check one input; a ValueError names the problem."""
    if isinstance(text_or_ids, BlankInput):
        blank = text_or_ids
    elif isinstance(text_or_ids, str):
        blank = encode_blank_text(tokenizer, text_or_ids)
    else:
        blank = blank_input_from_ids(tokenizer, text_or_ids)
    check_room(blank, config, max_positions)
    return blank


def fill_blank_ids(
    model: GLMModel,
    contexts: Sequence[Sequence[int]],
    mask_positions: Sequence[Sequence[int]],
    config: GenerationConfig,
    *,
    sop_id: int,
    stop_ids: Sequence[int],
    pad_id: int,
    generator: torch.Generator | None = None,
) -> list[list[SpanOutput]]:
    """Fill every blank of every context, left to right, in one batch.

    ``contexts[i]`` is a full context (``[CLS] ... [eos]``), ``mask_positions[i]`` the sorted
    indices of its blanks. Returns one ``SpanOutput`` per blank per row. Beam search
    (``num_beams > 1``) keeps the best hypothesis of each blank and feeds it before the next.
    """
    device = model_device(model)
    rows = len(contexts)
    num_blanks = max(len(m) for m in mask_positions)
    width = max(len(c) for c in contexts)
    cache = model.make_kv_cache(rows, width + num_blanks * config.out_seq_length)
    results: list[list[SpanOutput]] = [[] for _ in contexts]
    start_ids = torch.full((rows,), sop_id, dtype=torch.long, device=device)
    with torch.no_grad():
        prefill(model, cache, contexts, pad_id)
        for j in range(num_blanks):
            present = [len(m) > j for m in mask_positions]
            active = torch.tensor(present, device=device)
            where = [m[j] if p else 0 for m, p in zip(mask_positions, present, strict=True)]
            where = torch.tensor(where, device=device)
            if config.num_beams == 1:
                spans = generate_span(
                    model,
                    cache,
                    start_ids,
                    where,
                    config,
                    stop_ids,
                    generator=generator,
                    active=active,
                )
            else:
                start = cache.length
                spans = beam_search(
                    model, cache, start_ids, where, config, stop_ids, pad_id, active=active
                )
                # Rewind to before the blank and feed the winners in one pass.
                cache.reorder(torch.arange(rows, device=device) * config.num_beams)
                cache.length = start
                fed = [
                    [sop_id, *s.fed_ids] if p else [] for s, p in zip(spans, present, strict=True)
                ]
                feed_spans(model, cache, fed, where, pad_id, config.no_block_position)
            for row, p in enumerate(present):
                if p:
                    results[row].append(spans[row])
    return results


def _blank_pattern(tokenizer: BlankTokenizer) -> re.Pattern:
    """Finds each blank in a text; a mask that swallows the whitespace before it when
    tokenised (lstrip) takes that whitespace along, since its fill brings its own."""
    blank_ids = set(tokenizer.blank_mask_ids)
    blanks = [c for c in tokenizer.command_tokens if c.id in blank_ids]
    alternatives = [
        (r"\s*" if c.lstrip else "") + re.escape(c.token)
        for c in sorted(blanks, key=lambda c: len(c.token), reverse=True)
    ]
    return re.compile("|".join(alternatives))


def splice_fills(tokenizer: BlankTokenizer, blank: BlankInput, fill_ids: list[list[int]]) -> str:
    """The input with each blank replaced by its fill."""
    if blank.effective_text is None:
        ids = list(blank.context_ids)
        for position, fill in reversed(list(zip(blank.mask_positions, fill_ids, strict=True))):
            ids[position : position + 1] = fill
        end = len(ids) - int(ids[-1] == tokenizer.eos_id)
        return tokenizer.decode(ids[int(ids[0] == tokenizer.cls_id) : end])
    fills = iter([tokenizer.decode(f) for f in fill_ids])
    return _blank_pattern(tokenizer).sub(lambda _: next(fills, ""), blank.effective_text)


def fill_offsets(
    tokenizer: BlankTokenizer, blank: BlankInput, fills: Sequence[str]
) -> list[tuple[int, int]]:
    """Where each fill lies in the spliced text of a text input: ``(start, end)`` character
    offsets into ``splice_fills``' result (to show the fills in the text)."""
    if blank.effective_text is None:
        raise ValueError("fill offsets need a text input, not token ids")
    offsets, shift = [], 0
    for match, fill in zip(
        _blank_pattern(tokenizer).finditer(blank.effective_text), fills, strict=False
    ):
        start = match.start() + shift
        offsets.append((start, start + len(fill)))
        shift += len(fill) - (match.end() - match.start())
    return offsets


def ended_by(tokenizer: BlankTokenizer, span: SpanOutput) -> str:
    """How a span ended: \"eop\", \"eos\" or \"length\" (``out_seq_length`` reached)."""
    if span.stop_id is None:
        return "length"
    return "eop" if span.stop_id == tokenizer.eop_id else "eos"


def fill_result(
    tokenizer: BlankTokenizer, blank: BlankInput, spans: list[SpanOutput]
) -> FillResult:
    """The result of filling ``blank`` with one span per blank (however they were decoded)."""
    fill_ids = [s.ids for s in spans]
    output_ids = [i for s in spans for i in (tokenizer.sop_id, *s.ids)]
    context = blank.text if blank.text is not None else tokenizer.decode(list(blank.context_ids))
    return FillResult(
        context=context,
        context_ids=list(blank.context_ids),
        mask_positions=list(blank.mask_positions),
        fills=[tokenizer.decode(f) for f in fill_ids],
        fill_ids=fill_ids,
        ended_by=[ended_by(tokenizer, s) for s in spans],
        scores=[s.score for s in spans],
        output_ids=output_ids,
        output_text=tokenizer.decode(output_ids),
        text=splice_fills(tokenizer, blank, fill_ids),
    )


def fill_blanks_batch(
    model: GLMModel,
    tokenizer: BlankTokenizer,
    inputs: Sequence[str | Sequence[int] | BlankInput],
    config: GenerationConfig,
    generator: torch.Generator | None = None,
) -> list[FillResult]:
    """Fill the blanks of several texts (or id contexts) in one batch; same fills as one at a
    time for greedy decoding and beam search. Sampling draws from ``generator`` (default: a
    fresh one seeded with ``config.seed``)."""
    if not model.config.block_position_encoding:
        raise ValueError("blank filling needs a --block-lm model (2-D positions)")
    blanks = [
        prepare_blank_input(tokenizer, item, config, model.config.max_sequence_length)
        for item in inputs
    ]
    if generator is None and not config.sampler.greedy and config.num_beams == 1:
        generator = config.make_generator(model_device(model))
    spans = fill_blank_ids(
        model,
        [b.context_ids for b in blanks],
        [b.mask_positions for b in blanks],
        config,
        sop_id=tokenizer.sop_id,
        stop_ids=(tokenizer.eop_id, tokenizer.eos_id),
        pad_id=tokenizer.pad_id,
        generator=generator,
    )
    return [fill_result(tokenizer, b, s) for b, s in zip(blanks, spans, strict=True)]


def fill_blanks(
    model: GLMModel,
    tokenizer: BlankTokenizer,
    text_or_ids: str | Sequence[int] | BlankInput,
    config: GenerationConfig,
    generator: torch.Generator | None = None,
) -> FillResult:
    """Fill the blanks of one text (or id context); see ``fill_blanks_batch``."""
    return fill_blanks_batch(model, tokenizer, [text_or_ids], config, generator)[0]
