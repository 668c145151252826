"""Zero-shot LM datasets: overlapping windows over documents, and LAMBADA last-word items.

Windows (``--seq-length s``, ``--overlapping-eval o``, ``m = s - 1`` tokens per window): window
``k`` of a document covers ``tokens[k*o : k*o + m]`` and there are
``max(ceil(max(len - m, 0) / o) + 1, 1)`` of them. Each is one GLM sample::

    [CLS] context [MASK] | [sop] rest[:-1]        (targets: rest)

with ``[gMASK]`` for ``--task-mask`` models. Bidirectional: window 0 has the first token as
context, window k > 0 the first ``m - o`` tokens (already scored by window k - 1), so Part B
predicts exactly the new tokens. ``--unidirectional``: the context is always the first token
and only the new tokens of window k > 0 are scored. Either way every document token but the
first is scored exactly once. Items are padded with eos to ``s + 1`` tokens.

LAMBADA: the last word of each text is predicted from the rest, as several tokens at once
(teacher forcing); Part A ends with an eos after the mask, as in GLM's cloze layout.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tasks.glm_samples import GLMSample, Segment, build_sample
from tasks.task_io import read_jsonl, require_field


@dataclass(frozen=True)
class LMTokens:
    """The command ids an LM sample needs (``mask`` is [gMASK] with --task-mask)."""

    cls: int
    mask: int
    sop: int
    eos: int

    @classmethod
    def from_tokenizer(cls, tokenizer, task_mask: bool) -> LMTokens:
        mask = tokenizer.gmask_id if task_mask else tokenizer.mask_id
        if mask is None:
            raise ValueError("--task-mask needs a tokenizer with [gMASK] (build it with it)")
        return cls(tokenizer.cls_id, mask, tokenizer.sop_id, tokenizer.eos_id)


@dataclass(frozen=True)
class Window:
    document: int
    start: int  # document index of the window's first token
    length: int  # tokens in the window (the last one may be short)
    first_scored: int  # window offset of the first scored token


def count_windows(length: int, max_tokens: int, overlap: int) -> int:
    return max(math.ceil(max(length - max_tokens, 0) / overlap) + 1, 1)


class LMWindowDataset:
    """Overlapping windows over tokenised documents (see the module docstring)."""

    def __init__(
        self,
        documents: Sequence[Sequence[int]],
        words_per_document: Sequence[int],
        tokens: LMTokens,
        seq_length: int,
        overlap: int,
        unidirectional: bool = False,
    ):
        max_tokens = seq_length - 1
        if not 1 <= overlap < max_tokens:
            raise ValueError(
                f"--overlapping-eval {overlap} must be in [1, --seq-length - 2 = {max_tokens - 1}]"
            )
        self.documents = [list(d) for d in documents]
        self.words_per_document = list(words_per_document)
        self.tokens, self.seq_length, self.unidirectional = tokens, seq_length, unidirectional
        self.windows: list[Window] = []
        for d, doc in enumerate(self.documents):
            if len(doc) < 2:
                continue  # nothing to predict: the first token is never scored
            for k in range(count_windows(len(doc), max_tokens, overlap)):
                start = k * overlap
                length = min(max_tokens, len(doc) - start)
                self.windows.append(Window(d, start, length, 1 if k == 0 else max_tokens - overlap))

    @property
    def num_tokenized_tokens(self) -> int:
        return sum(len(d) for d in self.documents)

    @property
    def num_original_tokens(self) -> int:
        return sum(self.words_per_document)

    @property
    def num_predicted_words(self) -> int:
        """Words after each document's first one: the word count a per-token loss maps to."""
        return sum(max(w - 1, 0) for w in self.words_per_document)

    def __len__(self) -> int:
        return len(self.windows)

    def __getitem__(self, index: int) -> GLMSample:
        w = self.windows[index]
        text = self.documents[w.document][w.start : w.start + w.length]
        context_length = 1 if self.unidirectional or w.start == 0 else w.first_scored
        part_a = [self.tokens.cls, *text[:context_length], self.tokens.mask]
        rest = text[context_length:]
        first = w.first_scored - context_length  # index in ``rest`` of the first scored token
        segment = Segment(
            mask_position=len(part_a) - 1,
            input_ids=[self.tokens.sop, *rest[:-1]],
            target_ids=rest,
            loss_mask=[int(j >= first) for j in range(len(rest))],
        )
        return build_sample(part_a, [segment], self.tokens.eos, self.seq_length + 1, uid=index)

    def scored_positions(self, index: int) -> range:
        """Document indices of the tokens window ``index`` scores, in target order."""
        w = self.windows[index]
        return range(w.start + w.first_scored, w.start + w.length)


@dataclass(frozen=True)
class LambadaExample:
    context: tuple[int, ...]
    answer: tuple[int, ...]


def split_last_word(text: str, where: str) -> tuple[str, str]:
    """LAMBADA's strict split: the last whitespace word and the text before it."""
    words = text.split()
    if len(words) < 2:
        raise ValueError(f"{where}: field 'text' needs a context and a last word, got {text!r}")
    last = words[-1]
    return text[: text.rfind(last)].strip(), last


def read_lambada(path: str | Path, tokenizer, strict: bool = True) -> list[LambadaExample]:
    """``{"text": ...}`` lines. Strict: the answer is the whole last word, encoded with its
    leading space; otherwise it is the last token of the encoded text."""
    examples = []
    for record in read_jsonl(path, "LAMBADA records {'text': ...}"):
        text = require_field(record.data, "text", str, record.where())
        if strict:
            context, last = split_last_word(text, record.where())
            examples.append(
                LambadaExample(
                    tuple(tokenizer.encode(context)), tuple(tokenizer.encode(" " + last))
                )
            )
            continue
        ids = tokenizer.encode(text)
        if len(ids) < 2:
            raise ValueError(f"{record.where()}: field 'text' has fewer than 2 tokens")
        examples.append(LambadaExample(tuple(ids[:-1]), tuple(ids[-1:])))
    return examples


class LambadaDataset:
    """``[CLS] context [MASK] [eos] | [sop] answer[:-1]`` (bidirectional) or
    ``[CLS] c0 [MASK] [eos] | [sop] c1.. answer[:-1]`` (unidirectional, answer scored only);
    the context loses its oldest tokens if the sample would exceed ``seq_length``."""

    def __init__(
        self,
        examples: Sequence[LambadaExample],
        tokens: LMTokens,
        seq_length: int,
        unidirectional: bool = False,
    ):
        self.examples, self.tokens = list(examples), tokens
        self.seq_length, self.unidirectional = seq_length, unidirectional

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> GLMSample:
        example = self.examples[index]
        answer = list(example.answer)
        room = self.seq_length - 3 - len(answer)
        if room < 1:
            raise ValueError(f"LAMBADA item {index}: its last word alone exceeds --seq-length")
        context = list(example.context)[-room:]
        t = self.tokens
        if self.unidirectional:
            part_a, rest = [t.cls, context[0], t.mask, t.eos], context[1:]
        else:
            part_a, rest = [t.cls, *context, t.mask, t.eos], []
        targets = rest + answer
        segment = Segment(
            mask_position=len(part_a) - 2,
            input_ids=[t.sop, *targets[:-1]],
            target_ids=targets,
            loss_mask=[0] * len(rest) + [1] * len(answer),
        )
        return build_sample(part_a, [segment], t.eos, uid=index)
