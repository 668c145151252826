"""Offline datasets for the task YAMLs here: local JSON-lines files through the ``datasets``
json builder, nothing fetched from a hub.

Files are found under the shared data folder: ``--metadata '{"shared_dir": "..."}'``, else
``$GLM_SHARED``, else ``shared/`` beside the repository. lm-eval imports this file on its own
(``!function`` in the YAMLs), so it depends on nothing of the project.
"""

from __future__ import annotations

import os
from pathlib import Path

import datasets

RTE_LABELS = {"entailment": 0, "not_entailment": 1}  # choices: True, False


def _shared_dir(shared_dir: str | None) -> Path:
    folder = shared_dir or os.environ.get("GLM_SHARED")
    path = Path(folder) if folder else Path(__file__).resolve().parents[3] / "shared"
    if not path.is_dir():
        raise FileNotFoundError(
            f"shared data folder {path} not found: set GLM_SHARED or pass "
            "--metadata '{\"shared_dir\": ...}'"
        )
    return path


def _json(files: dict[str, Path]) -> datasets.DatasetDict:
    for path in files.values():
        if not path.is_file():
            raise FileNotFoundError(f"task file {path} does not exist")
    return datasets.load_dataset("json", data_files={k: str(v) for k, v in files.items()})


def _superglue(task: str, shared_dir: str | None) -> datasets.DatasetDict:
    folder = _shared_dir(shared_dir) / "eval" / "superglue" / task
    return _json({"train": folder / "train.jsonl", "validation": folder / "dev32.jsonl"})


def load_lambada(shared_dir: str | None = None, **_) -> datasets.DatasetDict:
    folder = _shared_dir(shared_dir) / "eval" / "lambada"
    return _json({"test": folder / "lambada_test_first500.jsonl"})


def load_copa(shared_dir: str | None = None, **_) -> datasets.DatasetDict:
    return _superglue("COPA", shared_dir)


def load_rte(shared_dir: str | None = None, **_) -> datasets.DatasetDict:
    return _superglue("RTE", shared_dir).map(lambda doc: {"label": RTE_LABELS[doc["label"]]})


def load_boolq(shared_dir: str | None = None, **_) -> datasets.DatasetDict:
    return _superglue("BoolQ", shared_dir).map(lambda doc: {"label": int(doc["label"])})


def copa_text(doc: dict) -> str:
    """The premise without its final period, joined by "because" / "therefore"."""
    connector = {"cause": "because", "effect": "therefore"}[doc["question"]]
    return doc["premise"].strip()[:-1] + f" {connector}"


def copa_choices(doc: dict) -> list[str]:
    return [" " + doc[k][0].lower() + doc[k][1:] for k in ("choice1", "choice2")]


def lambada_context(doc: dict) -> str:
    """The text before its last whitespace-separated word, stripped (GLM's strict split)."""
    last = doc["text"].split()[-1]
    return doc["text"][: doc["text"].rfind(last)].strip()


def lambada_target(doc: dict) -> str:
    return " " + doc["text"].split()[-1]
