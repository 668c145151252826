"""Readers of the reading-comprehension cloze tasks: RACE and SQuAD (as a cloze task).

As in GLM, neither standardises punctuation; RACE articles get GLM's clean-up (newlines and
runs of whitespace to one space, `` . `` to ``. ``).
"""

from __future__ import annotations

import re
from pathlib import Path

from tasks.cloze_samples import InputExample
from tasks.superglue.readers_classification import check_label
from tasks.task_io import DataError, read_json, read_jsonl


def clean_race_article(text: str) -> str:
    """GLM's RACE clean-up. The dot rule is applied three times, as GLM did: a run of
    dots separated by spaces loses one space per pass."""
    text = re.sub(r"\s+", " ", text.replace("\n", " "))
    for _ in range(3):
        text = text.replace(" . ", ". ")
    return text


def read_race(folder: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """RACE: every ``*.txt`` under ``<split>/{middle,high}`` holds JSON records (one per line)
    with ``article``, ``questions``, ``options``, ``answers``; one example per question."""
    files = sorted(p for level in ("middle", "high") for p in (folder / level).glob("*.txt"))
    if not files:
        raise FileNotFoundError(f"no RACE files in {folder}/middle or {folder}/high")
    examples = []
    for path in files:
        for rec in read_jsonl(path):
            article = clean_race_article(rec.get("article", kind=str))
            race_id = rec.get("id", default=path.name)
            options, answers = rec.get("options", kind=list), rec.get("answers", kind=list)
            for q_number, question in enumerate(rec.get("questions", kind=list)):
                if q_number >= len(options) or q_number >= len(answers):
                    raise DataError(
                        f"{rec.where()}: fields 'options'/'answers' are shorter than 'questions'"
                    )
                label = check_label(path, rec.line, str(answers[q_number]), labels)
                examples.append(
                    InputExample(
                        f"{split}-p{race_id}-q{q_number}",
                        article,
                        question,
                        label,
                        {"choices": list(options[q_number])},
                        [split, race_id, q_number],
                        num_choices=len(options[q_number]),
                        origin=rec.where(),
                    )
                )
    return examples


def read_squad_cloze(path: Path, split: str, labels: tuple[str, ...]) -> list[InputExample]:
    """SQuAD v2 as a one-candidate cloze task: the answer is the first gold answer, or "N/A"."""
    data = read_json(path, "a SQuAD v2 JSON file")
    articles = data.get("data") if isinstance(data, dict) else None
    if not isinstance(articles, list):
        raise DataError(f"{path}: not a SQuAD JSON file (expected a top-level 'data' list)")
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
