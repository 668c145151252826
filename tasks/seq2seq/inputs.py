"""Seq2seq inputs: the source templates of each task, and the dataset of GLM samples.

Every task turns an example into Part A (the source, with one mask token per span to
generate) and the target spans (``tokens + [eop]``). A summary source reads::

    [CLS] [sMASK] " Content:" " " + source          -> target: " " + summary + [eop]

(``[MASK]`` without ``--task-mask``). Training samples put ``[sop] + target[:-1]`` after Part A
at the mask's position, block positions 1..n, loss on every target token.

Padding: GLM right-padded every source to ``--src-seq-length`` inside Part A, where the
padding was attended to. Here Part A is the source alone (``sep`` = its length) and padding
goes after Part B, where no real token sees it. ``--legacy-source-padding`` restores GLM's
layout (for models finetuned by GLM, whose numbers depend on it); with ``--mask-pad-token`` GLM
hid that padding, which is what the default layout computes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from tasks.glm_samples import GLMSample, Segment, build_sample


@dataclass(frozen=True)
class Seq2SeqTokens:
    cls: int
    mask: int  # the source's mask token ([sMASK] with --task-mask, else [MASK])
    sop: int
    eop: int
    eos: int
    pad: int

    @classmethod
    def from_tokenizer(cls, tokenizer, mask_id: int) -> Seq2SeqTokens:
        t = tokenizer
        return cls(t.cls_id, mask_id, t.sop_id, t.eop_id, t.eos_id, t.pad_id)


@dataclass(frozen=True)
class EncodedExample:
    uid: int
    source: tuple[int, ...]  # Part A, unpadded
    mask_positions: tuple[int, ...]  # the mask of each span, in generation order
    targets: tuple[tuple[int, ...], ...]  # per span: tokens + [eop] (empty when unknown)
    reference: str  # the text a prediction is scored against
    meta: dict = field(default_factory=dict)


def encode_target(tokenizer, text: str, eop: int, max_length: int) -> tuple[int, ...]:
    return tuple([*tokenizer.encode(" " + text), eop][:max_length])


def summary_source(
    tokenizer, source: str, tokens: Seq2SeqTokens, src_len: int
) -> tuple[list[int], int]:
    """``[CLS] [M] " Content:" " " + source``, the source cut at the end to fit; and the mask
    position."""
    prompt = [tokens.cls, tokens.mask, *tokenizer.encode(" Content:")]
    return prompt + tokenizer.encode(" " + source)[: max(src_len - len(prompt), 0)], 1


def customization_source(
    tokenizer, source: str, tokens: Seq2SeqTokens, src_len: int
) -> tuple[list[int], int]:
    """``[CLS] source[-(src_len - 3):] [M] [eos]``: the source keeps its end."""
    body = tokenizer.encode(source)[-(src_len - 3) :]
    return [tokens.cls, *body, tokens.mask, tokens.eos], len(body) + 1


SourceBuilder = Callable[[object, str, Seq2SeqTokens, int], tuple[list[int], int]]


def encode_single_span(
    examples: Sequence,
    tokenizer,
    tokens: Seq2SeqTokens,
    src_len: int,
    tgt_len: int,
    build_source: SourceBuilder,
) -> list[EncodedExample]:
    """Examples whose source holds one mask and whose target is one span."""
    encoded = []
    for ex in examples:
        source, mask_position = build_source(tokenizer, ex.source, tokens, src_len)
        target = encode_target(tokenizer, ex.target, tokens.eop, tgt_len)
        reference = tokenizer.decode(list(tokenizer.encode(ex.target)))
        encoded.append(
            EncodedExample(ex.uid, tuple(source), (mask_position,), (target,), reference, ex.meta)
        )
    return encoded


class Seq2SeqDataset:
    """Training samples (teacher forcing) over encoded examples; decoding reads ``examples``."""

    def __init__(
        self,
        examples: Sequence[EncodedExample],
        tokens: Seq2SeqTokens,
        src_len: int,
        tgt_len: int,
        legacy_padding: bool = False,
    ):
        self.examples = list(examples)
        self.tokens, self.src_len, self.tgt_len = tokens, src_len, tgt_len
        self.legacy_padding = legacy_padding

    def __len__(self) -> int:
        return len(self.examples)

    def context(self, index: int) -> list[int]:
        """Part A as the model sees it (padded to ``src_len`` in the legacy layout)."""
        source = list(self.examples[index].source)
        if self.legacy_padding:
            source += [self.tokens.pad] * (self.src_len - len(source))
        return source

    def __getitem__(self, index: int) -> GLMSample:
        ex = self.examples[index]
        segments, budget = [], self.tgt_len
        # Unknown targets (test sources) or blanks cut with their masks: fewer targets.
        for position, target in zip(ex.mask_positions, ex.targets, strict=False):
            target = list(target[:budget])
            if not target:
                break
            segments.append(
                Segment(position, [self.tokens.sop, *target[:-1]], target, [1] * len(target))
            )
            budget -= len(target)
        length = self.src_len + self.tgt_len if self.legacy_padding else None
        return build_sample(self.context(index), segments, self.tokens.pad, length, ex.uid)
