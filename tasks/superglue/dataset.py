"""Datasets of the cloze/classification tasks: examples read once, encoded on access.

``build_task_dataset(task, split, tokenizer, settings)`` reads the split, applies the task's
example rules (WSC keeps only positive training examples in the cloze regimes and splits long
candidate lists into groups of 9), and encodes with the task's PVP, the WSC generative
layout, or the classification layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from tasks.cloze_samples import InputExample
from tasks.config import ClozeOptions, ClozeTaskConfig
from tasks.superglue.classification import encode_classification
from tasks.superglue.processors import PROCESSORS, get_examples, split_path
from tasks.superglue.pvp import PVP
from tasks.superglue.pvp_classification import CLASSIFICATION_PVPS
from tasks.superglue.pvp_reading import READING_PVPS
from tasks.superglue.pvp_superglue import SUPERGLUE_PVPS

PVPS: dict[str, type[PVP]] = {**SUPERGLUE_PVPS, **READING_PVPS, **CLASSIFICATION_PVPS}
WSC_GROUP = 9  # negative candidates per training example


class TaskDataset(Dataset):
    """Examples of one split; item ``i`` is ``encode(examples[i])`` with ``uid = i``."""

    def __init__(
        self,
        examples: list[InputExample],
        encode: Callable,
        split: str,
        labels,
        pvp: PVP | None = None,
    ):
        self.examples, self.encode, self.split, self.labels, self.pvp = (
            examples,
            encode,
            split,
            labels,
            pvp,
        )

    def __len__(self) -> int:
        return len(self.examples)

    def __getitem__(self, index: int) -> dict[str, Any]:
        sample = self.encode(self.examples[index])
        sample["uid"] = index
        return sample


def build_pvp(task: str, tokenizer, options: ClozeOptions, split: str) -> PVP:
    if task not in PVPS:
        raise ValueError(f"task {task} has no cloze patterns: drop --cloze-eval")
    return PVPS[task](tokenizer, PROCESSORS[task].labels, options, split)


def wsc_groups(examples: list[InputExample]) -> list[InputExample]:
    """Split training examples with more than 9 candidates into groups of 9 (the last group
    wraps around to the first candidates)."""
    out = []
    for example in examples:
        candidates = example.meta.get("candidates", [])
        if len(candidates) <= WSC_GROUP:
            out.append(example)
            continue
        for start in range(0, len(candidates), WSC_GROUP):
            group = [candidates[(start + k) % len(candidates)] for k in range(WSC_GROUP)]
            out.append(
                replace(
                    example,
                    guid=f"{example.guid}-{start // WSC_GROUP}",
                    meta={**example.meta, "candidates": group},
                )
            )
    return out


def _data_dir(config: ClozeTaskConfig) -> Path:
    if config.run.data_dir is None:
        raise ValueError(
            f"--data-dir is not set: give the folder holding the {config.run.name} files"
        )
    return config.run.data_dir


def _examples(task: str, split: str, config: ClozeTaskConfig) -> list[InputExample]:
    examples = get_examples(task, _data_dir(config), split, config.few_superglue)
    if task in ("wsc", "wsc1") and config.cloze_eval and split == "train":
        examples = [ex for ex in examples if ex.label == "True"]
        examples = wsc_groups(examples) if config.cloze.wsc_negative else examples
    return examples


def build_task_dataset(split: str, tokenizer, config: ClozeTaskConfig) -> TaskDataset:
    task = config.run.name
    labels = PROCESSORS[task].labels
    examples = _examples(task, split, config)
    if not config.cloze_eval:
        max_len = config.cloze.max_seq_length

        def encode(ex: InputExample) -> dict[str, Any]:
            return encode_classification(tokenizer, task, ex, labels, max_len)

        return TaskDataset(examples, encode, split, labels)
    pvp = build_pvp(task, tokenizer, config.cloze, split)
    encode = pvp.encode_generative if config.wsc_generative else pvp.encode
    return TaskDataset(examples, encode, split, labels, pvp)


def split_exists(split: str, config: ClozeTaskConfig) -> bool:
    try:
        path = split_path(config.run.name, _data_dir(config), split, config.few_superglue)
    except ValueError:
        return False
    return Path(path).exists()
