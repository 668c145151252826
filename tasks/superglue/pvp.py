"""Pattern-verbalizer pairs (PVPs): how an example becomes cloze inputs, as GLM finetunes them.

A pattern is two lists of parts, A and B (B follows A directly). A part is a string (tokenised
on its own, so a leading space gives a space-prefixed token), a ``Short`` string (shortenable:
truncation removes its tokens from the end), ``MASK`` (the ``[MASK]`` id) or ``PROMPT`` (a
continuous-prompt slot, dropped without ``--continuous-prompt``). Single-token PVPs score the
verbalizer token of each label at the mask; multi-token PVPs score each candidate answer
(its tokens + ``[eop]``) as a separate row.
"""

from __future__ import annotations

import math
import string
from dataclasses import dataclass
from typing import Any

import numpy as np

from tasks.cloze_samples import InputExample, build_cloze_input, num_special_tokens, stack_rows
from tasks.config import ClozeOptions


@dataclass(frozen=True)
class Short:
    """A shortenable text part."""

    text: str


class _Mask:
    def __repr__(self) -> str:
        return "MASK"


MASK = _Mask()
PROMPT = None
MAX_DECODER_LENGTH = 16  # answer tokens scored by --fast-decode


def nofinal(part: str | Short) -> str | Short:
    """Strip trailing punctuation (keeps the part shortenable)."""
    if isinstance(part, Short):
        return Short(part.text.rstrip(string.punctuation))
    return part.rstrip(string.punctuation)


def lcfirst(text: str) -> str:
    return text[:1].lower() + text[1:]


Parts = list[tuple[list[int], bool]]


class PVP:
    """Base PVP. Subclasses set ``patterns``, ``multi_token``, ``prompts`` and implement
    ``parts`` plus ``verbalizer`` (single token) or ``answers`` (multi token)."""

    patterns: tuple[int, ...] = (0,)
    multi_token = False
    prompts = False  # takes continuous prompts (spell_length > 0)

    def __init__(self, tokenizer, labels: tuple[str, ...], options: ClozeOptions, split: str):
        if options.pattern_id not in self.patterns:
            raise ValueError(
                f"--pattern-id {options.pattern_id} does not exist for this task: "
                f"use one of {', '.join(map(str, self.patterns))}"
            )
        if options.continuous_prompt and not self.prompts:
            raise ValueError("--continuous-prompt is not supported by this task's patterns")
        self.tokenizer, self.labels, self.options, self.split = tokenizer, labels, options, split
        self.pattern_id = options.pattern_id
        self.prompt_id = tokenizer.num_tokens
        self.num_truncated = 0

    @property
    def spell_length(self) -> int:
        if not (self.options.continuous_prompt and self.prompts):
            return 0
        return self.options.num_prompt_tokens + self.options.prefix_prompt

    # -- what subclasses provide ------------------------------------------------------------
    def parts(self, example: InputExample) -> tuple[list, list]:
        raise NotImplementedError

    def verbalizer(self) -> dict[str, str]:
        raise NotImplementedError

    def answers(self, example: InputExample) -> list[str]:
        raise NotImplementedError

    # -- encoding -------------------------------------------------------------------------
    def verbalizer_ids(self) -> list[int]:
        """One token id per label (single-token PVPs); multi-token verbalizers are an error.

        A SentencePiece word that splits into a bare word-start piece ("▁") and one piece
        (TNEWS "居家") is verbalized by that piece."""
        words = self.verbalizer()
        command = {c.id for c in self.tokenizer.command_tokens}
        ids = []
        for label in self.labels:
            encoded = self.tokenizer.encode(words[label])
            if len(encoded) == 2 and self.tokenizer.decode(encoded[:1]).strip() == "":
                encoded = encoded[1:]
            if len(encoded) != 1 or encoded[0] in command:
                raise ValueError(
                    f"verbalizer {words[label]!r} of label {label!r} is not a single ordinary "
                    "token of this tokenizer: pick a pattern with single-token verbalizers"
                )
            ids.append(encoded[0])
        return ids

    def label_index(self, example: InputExample) -> int:
        return self.labels.index(example.label) if example.label is not None else 0

    def place_prompts(self, parts_a: list, parts_b: list) -> tuple[list, list]:
        """Give each ``PROMPT`` slot ``ceil(n / slots)`` prompt tokens until ``n`` are used
        (later slots may get fewer or none); without continuous prompts drop the slots."""
        if not self.options.continuous_prompt:
            return [p for p in parts_a if p is not PROMPT], [p for p in parts_b if p is not PROMPT]
        left = self.options.num_prompt_tokens
        slots = sum(p is PROMPT for p in parts_a + parts_b)
        share = math.ceil(left / slots) if slots else 0
        placed = ([], [])
        for parts, out in zip((parts_a, parts_b), placed, strict=True):
            for part in parts:
                if part is not PROMPT:
                    out.append(part)
                elif left > 0:
                    out.append(min(share, left))
                    left -= min(share, left)
        return placed

    def encoded_parts(self, example: InputExample) -> tuple[Parts, Parts]:
        """Token ids of every part (with prompt placeholders), and whether it is shortenable."""
        parts_a, parts_b = self.place_prompts(*self.parts(example))
        if self.spell_length and self.options.prefix_prompt:
            parts_a = [self.options.prefix_prompt, *parts_a]
        return self._encode(parts_a), self._encode(parts_b)

    def _encode(self, parts: list) -> Parts:
        out = []
        for part in parts:
            if part is MASK:
                out.append(([self.tokenizer.mask_id], False))
            elif isinstance(part, int):
                out.append(([self.prompt_id] * part, False))
            elif isinstance(part, Short):
                out.append((self.tokenizer.encode(part.text), True))
            else:
                out.append((self.tokenizer.encode(part), False))
        return out

    def truncate(self, parts_a: Parts, parts_b: Parts, answer: list[int] | None) -> bool:
        """Remove tokens from the last shortenable part of A or B (whichever has more
        shortenable tokens; B on ties) until everything fits ``max_seq_length``."""
        total = sum(len(ids) for ids, _ in parts_a + parts_b) + len(answer or [])
        excess = total + num_special_tokens(bool(answer)) - self.options.max_seq_length
        for _ in range(max(excess, 0)):
            short_a = sum(len(ids) for ids, s in parts_a if s)
            short_b = sum(len(ids) for ids, s in parts_b if s)
            parts = parts_a if short_a > short_b else parts_b
            candidates = [k for k, (ids, s) in enumerate(parts) if s and ids]
            if not candidates:
                raise ValueError(
                    f"example does not fit --seq-length {self.options.max_seq_length} even with "
                    "its shortenable text removed: raise --seq-length"
                )
            ids, s = parts[candidates[-1]]
            parts[candidates[-1]] = (ids[:-1], s)
        self.num_truncated += excess > 0
        return excess > 0

    def _row(self, parts_a: Parts, parts_b: Parts, answer: list[int] | None) -> dict[str, Any]:
        tokens_a = [i for ids, _ in parts_a for i in ids]
        tokens_b = [i for ids, _ in parts_b for i in ids] if parts_b else None
        row = build_cloze_input(
            tokens_a,
            tokens_b,
            answer,
            self.options.max_seq_length,
            self.tokenizer,
            self.options.block_position,
        )
        return self._take_prompts(row)

    def _take_prompts(self, row: dict[str, Any]) -> dict[str, Any]:
        ids = row["input_ids"]
        if self.spell_length:
            row["prompt_pos"] = np.flatnonzero(ids == self.prompt_id).astype(np.int64)
        row["input_ids"] = np.where(ids == self.prompt_id, 0, ids)
        return row

    def encode(self, example: InputExample) -> dict[str, Any]:
        """The sample for one example (see ``tasks.cloze_samples`` for its keys)."""
        if self.multi_token:
            return self._encode_choices(example, self.answers(example))
        parts_a, parts_b = self.encoded_parts(example)
        self.truncate(parts_a, parts_b, None)
        sample = self._row(parts_a, parts_b, None)
        del sample["target_ids"], sample["logit_mask"]
        sample["label_ids"] = np.asarray(self.verbalizer_ids(), dtype=np.int64)
        sample["label"] = self.label_index(example)
        return sample

    def answer_ids(self, answer: str) -> list[int]:
        return [*self.tokenizer.encode(answer), self.tokenizer.eop_id]

    def _encode_choices(self, example: InputExample, answers: list[str]) -> dict[str, Any]:
        if self.options.fast_decode:
            return self._encode_fast(example, answers)
        rows, segment_ids = [], []
        encoded_a, encoded_b = self.encoded_parts(example)
        for index, answer in enumerate(answers):
            parts_a, parts_b = list(encoded_a), list(encoded_b)
            answer_ids = self.answer_ids(answer)
            self.truncate(parts_a, parts_b, answer_ids)
            step = self.options.segment_length or len(answer_ids)
            for start in range(0, len(answer_ids), step):
                rows.append(self._row(parts_a, parts_b, answer_ids[start : start + step]))
                segment_ids.append(index)
        sample = stack_rows(rows)
        if self.options.segment_length:
            sample["segment_id"] = np.asarray(segment_ids, dtype=np.int64)
        sample.update(label=self.label_index(example), num_choices=len(answers))
        return sample

    def _encode_fast(self, example: InputExample, answers: list[str]) -> dict[str, Any]:
        """One context (Part A) plus per-answer decoder rows ``[sop] + answer[:-1]``."""
        parts_a, parts_b = self.encoded_parts(example)
        self.truncate(parts_a, parts_b, None)
        context = self._row(parts_a, parts_b, None)
        sep = context["sep"]
        mask_position = int(context["position_ids"][0, sep])
        sample = {
            key: value[..., :sep] if key in ("input_ids", "position_ids") else value
            for key, value in context.items()
            if key not in ("target_ids", "logit_mask")
        }
        rows = []
        for answer in answers:
            ids = self.answer_ids(answer)[:MAX_DECODER_LENGTH]
            blocks = (
                np.arange(1, len(ids) + 1) if self.options.block_position else np.ones(len(ids))
            )
            rows.append(
                {
                    "dec_input_ids": np.asarray([self.tokenizer.sop_id, *ids[:-1]], dtype=np.int64),
                    "dec_position_ids": np.stack([np.full(len(ids), mask_position), blocks]).astype(
                        np.int64
                    ),
                    "dec_target_ids": np.asarray(ids, dtype=np.int64),
                    "dec_logit_mask": np.ones(len(ids), dtype=np.int64),
                }
            )
        length = max(len(r["dec_input_ids"]) for r in rows)
        for key in rows[0]:
            sample[key] = np.stack(
                [
                    np.pad(r[key], [(0, 0)] * (r[key].ndim - 1) + [(0, length - r[key].shape[-1])])
                    for r in rows
                ]
            )
        sample.update(label=self.label_index(example), num_choices=len(answers))
        return sample

    def gold_answer(self, example: InputExample) -> str:
        if self.multi_token:
            return self.answers(example)[self.label_index(example)]
        return self.verbalizer()[example.label]

    def pattern_text(self, example: InputExample) -> list[int]:
        """``[CLS]`` + the pattern filled with the gold verbalizer/answer + ``[eos]`` (no
        prompt slots): the text of ``--block-lm-ratio`` co-training."""
        parts_a, parts_b = self.encoded_parts(example)
        answer = self.tokenizer.encode(self.gold_answer(example))
        filled = []
        for ids, _ in parts_a + parts_b:
            for i in ids:
                if i == self.tokenizer.mask_id:
                    filled.extend(answer)
                elif i != self.prompt_id:
                    filled.append(i)
        ids = [self.tokenizer.cls_id, *filled][: self.options.max_seq_length - 1]
        return [*ids, self.tokenizer.eos_id]
