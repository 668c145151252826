"""Readers of the reading-comprehension cloze tasks: RACE and SQuAD (as a cloze task)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from tasks.cloze_samples import InputExample
from tasks.superglue.readers_classification import check_label
from tasks.task_io import DataError, existing_file, read_jsonl


def read_race(folder: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """RACE: every ``*.txt`` under ``<split>/{middle,high}`` holds JSON records (one per line)
    with ``article``, ``questions``, ``options``, ``answers``; one example per question."""
    files = sorted(p for level in ("middle", "high") for p in (folder / level).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no RACE files in {folder}/middle or {folder}/high")
    examples = []
    for path in files:
        for rec in read_jsonl(path):
            article = re.sub(r"\s+", " ", rec.get("article", kind=str).replace("\n", " "))
            options, answers = rec.get("options", kind=list), rec.get("answers", kind=list)
            for q_number, question in enumerate(rec.get("questions", kind=list)):
                if q_number >= len(options) or q_number >= len(answers):
                    raise DataError(
                        f"{rec.where()}: fields 'options'/'answers' are shorter than 'questions'"
                    )
                label = check_label(path, rec.line, str(answers[q_number]), labels)
                examples.append(
                    InputExample(
                        f"{split}-{path.stem}-{q_number}",
                        article,
                        question,
                        label,
                        {"choices": list(options[q_number])},
                        [path.stem, q_number],
                        num_choices=len(options[q_number]),
                    )
                )
    return examples


def read_squad_cloze(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """SQuAD v2 as a one-candidate cloze task: the answer is the first gold answer, or "N/A"."""
    try:
        articles = json.loads(existing_file(path, "task data").read_text(encoding="utf-8"))["data"]
    except (json.JSONDecodeError, KeyError, TypeError):
        raise DataError(
            f"{path}: not a SQuAD JSON file (expected a top-level 'data' list)"
        ) from None
    examples = []
    for article in articles:
        for paragraph in article["paragraphs"]:
            for qa in paragraph["qas"]:
                answers = [a["text"] for a in qa.get("answers", [])]
                answer = answers[0] if answers and not qa.get("is_impossible") else "N/A"
                examples.append(
                    InputExample(
                        f"{split}-{qa['id']}",
                        paragraph["context"],
                        qa["question"],
                        "0",
                        {"answer": answer},
                        qa["id"],
                    )
                )
    return examples
