"""Reading seq2seq data: ``{split}.source``/``{split}.target`` pairs, XSum, SQuAD-format JSON.

Each reader returns ``Seq2SeqExample``s in file order; problems are errors naming the file
(and line or record) and what is wrong. Text handling is GLM's, reader by reader: lines are
stripped; CNN/DM, CNN/DM-original and Gigaword sources and targets go through the punctuation
standardisation (curly quotes to straight ones, en dash to ``-``) and then their corpus's
detokenisation; XSum, customization, extraction and the SQuAD-format tasks are read as they
are.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from data_utils.corpora import punctuation_standardization as standardize
from tasks.seq2seq.detokenize import detokenize_cnndm, detokenize_gigaword
from tasks.task_io import DataError, existing_file, read_json, read_lines, read_text, require_field


@dataclass(frozen=True)
class Seq2SeqExample:
    uid: int
    source: str
    target: str
    meta: dict = field(default_factory=dict)


def _as_is(text: str) -> str:
    return text


def read_source_target(
    folder: Path,
    split: str,
    clean_source: Callable[[str], str] = _as_is,
    clean_target: Callable[[str], str] = _as_is,
) -> list[Seq2SeqExample]:
    """Line ``i`` of ``{split}.source`` pairs with line ``i`` of ``{split}.target``; each line
    is stripped, then cleaned."""
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
                raise DataError(f"{path}:{number}: empty line (every example needs text)")
        source, target = clean_source(source.strip()), clean_target(target.strip())
        examples.append(Seq2SeqExample(len(examples), source, target))
    return examples


def read_cnndm(folder: Path, split: str) -> list[Seq2SeqExample]:
    return read_source_target(
        folder,
        split,
        lambda s: detokenize_cnndm(standardize(s), is_target=False),
        lambda s: detokenize_cnndm(standardize(s), is_target=True),
    )


def read_cnndm_original(folder: Path, split: str) -> list[Seq2SeqExample]:
    return read_source_target(folder, split, standardize, standardize)


def read_gigaword(folder: Path, split: str) -> list[Seq2SeqExample]:
    def clean(text: str) -> str:
        return detokenize_gigaword(standardize(text))

    return read_source_target(folder, split, clean, clean)


XSUM_SPLITS = {"train": "train", "val": "validation", "test": "test"}


def xsum_sections(text: str) -> dict[str, str]:
    """The ``[SN]NAME[SN]`` sections of an XSum document, each its stripped non-empty lines
    joined by single spaces (GLM's reading)."""
    sections: dict[str, list[str]] = {}
    current: list[str] | None = None
    for line in text.split("\n"):
        line = line.strip()
        if line.startswith("[SN]") and line.endswith("[SN]") and len(line) >= 8:
            current = sections.setdefault(line[4:-4], [])
        elif line and current is not None:
            current.append(line)
    return {name: " ".join(lines) for name, lines in sections.items()}


def read_xsum(folder: Path, split: str) -> list[Seq2SeqExample]:
    """``XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json`` lists the ids; ``<id>.summary`` holds the
    document (``[SN]RESTBODY[SN]``) and its one-sentence summary (``[SN]FIRST-SENTENCE[SN]``)."""
    split_file = existing_file(folder / "XSum-TRAINING-DEV-TEST-SPLIT-90-5-5.json", "XSum split")
    ids = read_json(split_file, "the XSum split lists")
    key = XSUM_SPLITS[split]
    if not isinstance(ids, dict) or key not in ids:
        raise DataError(f"{split_file}: missing field {key!r}")
    examples = []
    for doc_id in ids[key]:
        path = existing_file(folder / f"{doc_id}.summary", "XSum document")
        sections = xsum_sections(read_text(path, "an XSum document"))
        for name in ("RESTBODY", "FIRST-SENTENCE"):
            if not sections.get(name):
                raise DataError(f"{path}: no [SN]{name}[SN] section (or it is empty)")
        source, target = sections["RESTBODY"], sections["FIRST-SENTENCE"]
        examples.append(Seq2SeqExample(len(examples), source, target, {"id": doc_id}))
    if not examples:
        raise DataError(f"{split_file}: split {key!r} lists no documents")
    return examples


@dataclass(frozen=True)
class SquadQuestion:
    qid: str
    question: str
    context: str
    answers: tuple[str, ...]  # empty: unanswerable (SQuAD 2.0)
    answer_starts: tuple[int, ...]
    where: str = ""  # "file: data[a].paragraphs[p].qas[q]", for error messages


def iter_squad(path: Path) -> Iterator[SquadQuestion]:
    """Every question of a SQuAD-format file (``data[].paragraphs[].qas[]``)."""
    data = read_json(path, "SQuAD-format JSON")
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
                    at,
                )
    if not found:
        raise ValueError(f"{path} is empty: no questions under data[].paragraphs[].qas[]")
