"""SQuAD-format tasks: question generation, extractive QA as generation, and CMRC.

``squad`` (2.0) / ``squad_v1`` (1.1): the context is cut into windows of
``src_len - 3 - len(question)`` tokens every ``src_len // 2`` tokens; each window is one
example ``[CLS] " " + question [M] "." window`` whose target is the answer when it lies inside
the window, else ``N/A`` (SQuAD 1.1 training drops those windows). A question's prediction is
its first non-``N/A`` window output. Token offsets come from tokenising the context word by
word (``" " + word``, as the whole context would be), so no offset-mapping tokenizer is needed.

``squad_generation``: ``[CLS] context " Question:" [M] " Answer: " + answer`` -> the question;
a context too long keeps a window centred on the answer. ``cmrc`` (Chinese): ``[CLS]
"问题：" + question + "答案：" [MASK] context`` -> the answer, cut at the end to fit.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from tasks.seq2seq.inputs import EncodedExample, Seq2SeqTokens, encode_target
from tasks.seq2seq.readers import SquadQuestion
from tasks.task_io import NEEDS_LABEL, DataError

logger = logging.getLogger(__name__)
NO_ANSWER = "N/A"
_WORD = re.compile(r"\S+")


def tokenize_with_offsets(tokenizer, context: str) -> tuple[list[int], list[tuple[int, int]]]:
    """Context tokens and, per token, the character span of the word it belongs to."""
    words = [(m.start(), m.end()) for m in _WORD.finditer(context)]
    pieces = tokenizer.encode_batch([" " + context[s:e] for s, e in words]) if words else []
    ids, spans = [], []
    for span, piece in zip(words, pieces, strict=True):
        ids += piece
        spans += [span] * len(piece)
    return ids, spans


def _window_starts(length: int, window: int, stride: int) -> list[int]:
    starts = [0]
    while starts[-1] + window < length:
        starts.append(starts[-1] + stride)
    return starts


def encode_squad(
    questions: Iterable[SquadQuestion],
    tokenizer,
    tokens: Seq2SeqTokens,
    src_len: int,
    tgt_len: int,
    drop_unanswered: bool,
) -> list[EncodedExample]:
    """One example per (question, context window)."""
    period = tokenizer.encode(".")
    encoded: list[EncodedExample] = []
    for q in questions:
        question = tokenizer.encode(" " + q.question)
        window = src_len - 3 - len(question)
        if window < 1:
            raise ValueError(f"question {q.qid}: longer than --src-seq-length {src_len} allows")
        ids, spans = tokenize_with_offsets(tokenizer, q.context)
        for start in _window_starts(len(ids), window, src_len // 2):
            part = ids[start : start + window]
            answer = NO_ANSWER
            if part and q.answers:
                first, last = spans[start][0], spans[start + len(part) - 1][1]
                begin = q.answer_starts[0]
                if first <= begin and begin + len(q.answers[0]) <= last:
                    answer = q.answers[0]
            if answer == NO_ANSWER and drop_unanswered:
                continue
            source = [tokens.cls, *question, tokens.mask, *period, *part]
            meta = {"qid": q.qid, "answers": list(q.answers)}
            target = encode_target(tokenizer, answer, tokens.eop, tgt_len)
            encoded.append(
                EncodedExample(
                    len(encoded), tuple(source), (len(question) + 1,), (target,), answer, meta
                )
            )
    return encoded


def encode_question_generation(
    questions: Iterable[SquadQuestion],
    tokenizer,
    tokens: Seq2SeqTokens,
    src_len: int,
    tgt_len: int,
) -> list[EncodedExample]:
    """Answerable questions only: the answer is part of the source (GLM skipped the others
    too; the count is logged)."""
    encoded: list[EncodedExample] = []
    skipped = 0
    for q in questions:
        if not q.answers:
            skipped += 1
            continue
        answer, begin = q.answers[0], q.answer_starts[0]
        tail = tokenizer.encode(" Question:")
        after = tokenizer.encode(" Answer: " + answer)
        context = tokenizer.encode(q.context)
        room = src_len - 2 - len(tail) - len(after)
        if room < 1:
            raise ValueError(
                f"question {q.qid}: its answer does not fit --src-seq-length {src_len}"
            )
        if len(context) > room:
            centre = len(tokenizer.encode(q.context[:begin]))
            first = min(max(centre - room // 2, 0), len(context) - room)
            context = context[first : first + room]
        source = [tokens.cls, *context, *tail, tokens.mask, *after]
        target = encode_target(tokenizer, q.question, tokens.eop, tgt_len)
        reference = tokenizer.decode(tokenizer.encode(q.question))
        meta = {"qid": q.qid, "source": q.context}
        mask = 1 + len(context) + len(tail)
        encoded.append(
            EncodedExample(len(encoded), tuple(source), (mask,), (target,), reference, meta)
        )
    if skipped:
        logger.warning("question generation: skipped %d questions without an answer", skipped)
    return encoded


def encode_cmrc(
    questions: Iterable[SquadQuestion],
    tokenizer,
    tokens: Seq2SeqTokens,
    src_len: int,
    tgt_len: int,
    require_answers: bool = True,
) -> list[EncodedExample]:
    """``tokens.mask`` must be ``[MASK]`` (CMRC never uses the task masks). Every CMRC
    question has answers; one without is an error where they are the labels
    (``require_answers``: train and dev)."""
    encoded: list[EncodedExample] = []
    for q in questions:
        if require_answers and not q.answers:
            raise DataError(f"{q.where}: field 'answers' is missing or empty: {NEEDS_LABEL}")
        prefix = [tokens.cls, *tokenizer.encode("问题：" + q.question + "答案："), tokens.mask]
        if len(prefix) >= src_len:
            raise ValueError(f"question {q.qid}: longer than --src-seq-length {src_len} allows")
        source = prefix + tokenizer.encode(q.context)[: src_len - len(prefix)]
        answer = q.answers[0] if q.answers else NO_ANSWER
        target = encode_target(tokenizer, answer, tokens.eop, tgt_len)
        meta = {"qid": q.qid, "answers": list(q.answers)}
        encoded.append(
            EncodedExample(len(encoded), tuple(source), (len(prefix) - 1,), (target,), answer, meta)
        )
    return encoded


def first_answers(qids: list[str], predictions: list[str]) -> dict[str, str]:
    """Per question, its first prediction that is not ``N/A`` ("" when all are); like GLM,
    any case and spacing of "n/a" counts as ``N/A``."""
    best: dict[str, str] = {}
    for qid, text in zip(qids, predictions, strict=True):
        text = text.strip()
        if best.get(qid, "") == "" and text.lower().replace(" ", "") != "n/a":
            best[qid] = text
        best.setdefault(qid, "")
    return best
