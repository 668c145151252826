"""Finetuning and evaluation tasks; importing this package registers every built-in task."""

import tasks.language_model  # noqa: F401  (registers lambda, wikitext, language_model)
import tasks.seq2seq  # noqa: F401  (registers the seq2seq and blank tasks)
import tasks.superglue.finetune  # noqa: F401  (registers the cloze/classification tasks)
import tasks.superglue.multichoice  # noqa: F401  (registers multichoice)
from tasks.registry import TASKS, TaskData, TaskSpec, get_task, register_task

__all__ = ["TASKS", "TaskData", "TaskSpec", "get_task", "register_task"]
