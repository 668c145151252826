"""Datasets of the cloze/classification tasks: examples read once, encoded on access.

``build_task_dataset(task, split, tokenizer, settings)`` reads the split, applies the task's
example rules (WSC keeps only positive training examples in the cloze regimes and splits long
candidate lists into groups of 9), and encodes with the task's PVP, the WSC generative
layout, or the classification layout.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from torch.utils.data import Dataset

from tasks.data_utils import InputExample
from tasks.superglue.classification import encode_classification
from tasks.superglue.processors import PROCESSORS, get_examples, split_path
from tasks.superglue.pvp import PVP, ClozeOptions
from tasks.superglue.pvp_other import OTHER_PVPS
from tasks.superglue.pvp_superglue import SUPERGLUE_PVPS

PVPS: dict[str, type[PVP]] = {**SUPERGLUE_PVPS, **OTHER_PVPS}
WSC_GROUP = 9  # negative candidates per training example


@dataclass(frozen=True)
class DataSettings:
    """What dataset building needs from the flags."""

    data_dir: str
    cloze: ClozeOptions
    cloze_eval: bool = True
    few_superglue: bool = False
    wsc_generative: bool = False  # WSC trained as an LM on span1 (no --wsc-negative)


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


def _examples(task: str, split: str, settings: DataSettings) -> list[InputExample]:
    examples = get_examples(task, settings.data_dir, split, settings.few_superglue)
    if task in ("wsc", "wsc1") and settings.cloze_eval and split == "train":
        examples = [ex for ex in examples if ex.label == "True"]
        examples = wsc_groups(examples) if settings.cloze.wsc_negative else examples
    return examples


def build_task_dataset(task: str, split: str, tokenizer, settings: DataSettings) -> TaskDataset:
    labels = PROCESSORS[task].labels
    examples = _examples(task, split, settings)
    if not settings.cloze_eval:
        max_len = settings.cloze.max_seq_length

        def encode(ex: InputExample) -> dict[str, Any]:
            return encode_classification(tokenizer, task, ex, labels, max_len)

        return TaskDataset(examples, encode, split, labels)
    pvp = build_pvp(task, tokenizer, settings.cloze, split)
    encode = pvp.encode_generative if settings.wsc_generative else pvp.encode
    return TaskDataset(examples, encode, split, labels, pvp)


def split_exists(task: str, split: str, settings: DataSettings) -> bool:
    try:
        path = split_path(task, settings.data_dir, split, settings.few_superglue)
    except ValueError:
        return False
    return Path(path).exists()
