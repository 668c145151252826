"""Finetuning and evaluation tasks; importing this package registers every built-in task."""

from tasks.registry import TASKS, TaskData, TaskSpec, get_task, register_task

import tasks.language_model  # noqa: E402, F401  (registers lambda, wikitext, language_model)

__all__ = ["TASKS", "TaskData", "TaskSpec", "get_task", "register_task"]
