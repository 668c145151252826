"""Task registry: ``--task`` name -> how to build its data, model, loss and evaluation.

Every task module registers a ``TaskSpec`` at import time (``tasks/__init__.py`` imports them),
and ``finetune_glm.py`` looks the task up here instead of branching on names.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

FAMILIES = ("cloze", "classification", "multichoice", "lm", "seq2seq", "blank")


@dataclass(frozen=True)
class TaskData:
    """The datasets of one task; a split the task does not have is None."""

    train: Any = None
    dev: Any = None
    test: Any = None


@dataclass(frozen=True)
class TaskSpec:
    """What ``finetune_glm.py`` needs to know about a task.

    Every callable takes the task family's typed config (``tasks.config``, built from the flags
    by the entry script), never the whole command line:

    build_datasets(config, tokenizer) -> TaskData
    build_model(config, tokenizer) -> torch.nn.Module (a GLMModel or a head wrapping one)
    forward_step(batch, model, config) -> (loss, metrics); None for evaluation-only tasks
    evaluate(model, dataset, config, tokenizer, split, output_dir) -> {metric: value}; writes
        prediction files into output_dir
    metrics: metric names; the first (or ``--validation-metric``) selects the best checkpoint
    collate: batches a list of samples; None means the shared ``tasks.cloze_samples.collate``
    """

    name: str
    family: str
    build_datasets: Callable
    build_model: Callable
    forward_step: Callable | None
    evaluate: Callable
    metrics: tuple[str, ...]
    collate: Callable | None = None

    def __post_init__(self) -> None:
        if self.family not in FAMILIES:
            raise ValueError(f"task {self.name!r}: family {self.family!r} is not one of {FAMILIES}")
        if self.name != self.name.lower():
            raise ValueError(f"task name {self.name!r} must be lower-case")


_TASKS: dict[str, TaskSpec] = {}
TASKS: Mapping[str, TaskSpec] = MappingProxyType(_TASKS)


def register_task(spec: TaskSpec, *aliases: str) -> None:
    """Register ``spec`` under its name and any aliases (all matched case-insensitively)."""
    for name in (spec.name, *aliases):
        key = name.lower()
        if key in _TASKS and _TASKS[key] is not spec:
            raise ValueError(f"task {key!r} is already registered (family {_TASKS[key].family})")
        _TASKS[key] = spec


def get_task(name: str) -> TaskSpec:
    """The spec registered for ``name`` (case-insensitive); unknown names list the known ones."""
    try:
        return _TASKS[name.lower()]
    except KeyError:
        known = ", ".join(sorted(_TASKS)) or "(none registered)"
        raise ValueError(f"--task {name!r} is not a known task; known tasks: {known}") from None
