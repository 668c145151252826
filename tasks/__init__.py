"""Finetuning and evaluation tasks; importing this package registers every built-in task."""

from tasks.registry import TASKS, TaskData, TaskSpec, get_task, register_task

__all__ = ["TASKS", "TaskData", "TaskSpec", "get_task", "register_task"]
