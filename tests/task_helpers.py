"""Test helper: the typed task config an entry script builds from parsed flags."""

from tasks import get_task
from tasks.config import TaskConfig
from training.arguments import GLMArgs


def config_for(args: GLMArgs, tokenizer=None) -> TaskConfig:
    """``args.task_config`` for ``--task``'s family, on ``tokenizer``'s padded vocabulary."""
    vocab_size = tokenizer.vocab_size if tokenizer is not None else 128
    return args.task_config(get_task(args.task.task).family, vocab_size)
