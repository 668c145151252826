"""Reading seq2seq data: ``{split}.source``/``{split}.target`` pairs, XSum, SQuAD-format JSON.

Each reader returns ``Seq2SeqExample``s in file order; problems are errors naming the file
(and line or record) and what is wrong.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from tasks.seq2seq.detokenize import detokenize_cnndm, detokenize_gigaword
from tasks.task_io import existing_file, read_lines, require_field


@dataclass(frozen=True)
class Seq2SeqExample:
    uid: int
    source: str
    target: str
    meta: dict = field(default_factory=dict)


def read_source_target(
    folder: Path,
    split: str,
    clean_source: Callable[[str], str] = str.strip,
    clean_target: Callable[[str], str] = str.strip,
) -> list[Seq2SeqExample]:
    """Line ``i`` of ``{split}.source`` pairs with line ``i`` of ``{split}.target``."""
    source_path, target_path = folder / f"{split}.source", folder / f"{split}.target"
    sources = read_lines(source_path, "one source text per line")
    targets = read_lines(target_path, "one target text per line")
    if len(sources) != len(targets):
        raise ValueError(
            f"{source_path} has {len(sources)} lines but {target_path} has {len(targets)}: "
            "they must pair line by line"
        )
    examples = []
    for number, (source, target) in enumerate(zip(sources, targets, strict=True), start=1):
        for path, text in ((source_path, source), (target_path, target)):
            if not text.strip():
                raise ValueError(f"{path}:{number}: empty line (every example needs text)")
        examples.append(Seq2SeqExample(len(examples), clean_source(source), clean_target(target)))
    return examples


def read_cnndm(folder: Path, split: str) -> list[Seq2SeqExample]:
    return read_source_target(
        folder,
        split,
        lambda s: detokenize_cnndm(s, is_target=False),
        lambda s: detokenize_cnndm(s, is_target=True),
    )


def read_gigaword(folder: Path, split: str) -> list[Seq2SeqExample]:
    return read_source_target(folder, split, detokenize_gigaword, detokenize_gigaword)


XSUM_SPLITS = {"train": "train", "val": "validation", "test": "test"}


def _xsum_section(text: str, name: str, path: Path) -> str:
    marker = f"[SN]{name}[SN]"
    start = text.find(marker)
    if start < 0:
        raise ValueError(f"{path}: no {marker} section")
    body = text[start + len(marker) :]
    end = body.find("[SN]")
    return (body if end < 0 else body[:end]).strip()


def read_xsum(folder: Path, split: str) -> list[Seq2SeqExample]:
    """``XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json`` lists the ids; ``<id>.summary`` holds the
    document (``[SN]RESTBODY[SN]``) and its one-sentence summary (``[SN]FIRST-SENTENCE[SN]``)."""
    split_file = existing_file(folder / "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json", "XSum split")
    ids = json.loads(split_file.read_text(encoding="utf-8"))
    key = XSUM_SPLITS[split]
    if key not in ids:
        raise ValueError(f"{split_file}: missing field {key!r}")
    examples = []
    for doc_id in ids[key]:
        path = existing_file(folder / f"{doc_id}.summary", "XSum document")
        text = path.read_text(encoding="utf-8")
        source = " ".join(_xsum_section(text, "RESTBODY", path).split())
        target = " ".join(_xsum_section(text, "FIRST-SENTENCE", path).split())
        examples.append(Seq2SeqExample(len(examples), source, target, {"id": doc_id}))
    if not examples:
        raise ValueError(f"{split_file}: split {key!r} lists no documents")
    return examples


@dataclass(frozen=True)
class SquadQuestion:
    qid: str
    question: str
    context: str
    answers: tuple[str, ...]  # empty: unanswerable (SQuAD 2.0)
    answer_starts: tuple[int, ...]


def iter_squad(path: Path) -> Iterator[SquadQuestion]:
    """Every question of a SQuAD-format file (``data[].paragraphs[].qas[]``)."""
    path = existing_file(path, "SQuAD-format JSON")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ValueError(f"{path}: not valid JSON ({error.msg}, line {error.lineno})") from None
    articles = require_field(data, "data", list, str(path))
    found = False
    for a, article in enumerate(articles):
        for p, paragraph in enumerate(
            require_field(article, "paragraphs", list, f"{path}: data[{a}]")
        ):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = require_field(paragraph, "context", str, where)
            for q, qa in enumerate(require_field(paragraph, "qas", list, where)):
                at = f"{where}.qas[{q}]"
                answers = require_field(qa, "answers", list, at) if "answers" in qa else []
                texts = [require_field(x, "text", str, f"{at}.answers") for x in answers]
                starts = [require_field(x, "answer_start", int, f"{at}.answers") for x in answers]
                found = True
                yield SquadQuestion(
                    str(require_field(qa, "id", str, at)),
                    require_field(qa, "question", str, at),
                    context,
                    tuple(texts),
                    tuple(starts),
                )
    if not found:
        raise ValueError(f"{path} is empty: no questions under data[].paragraphs[].qas[]")
