"""Checkpoints in the GLM layout: find them, read them safely, check and load their weights.

Used by every tool that reads weights (generation, finetuning, resharding, conversion, the
server); saving and resuming training runs lives in ``training.checkpointing``.
"""

from checkpoint_io.files import extract_module_state, load_checkpoint_file
from checkpoint_io.layout import (
    SHARD_PATTERN,
    TRACKER_FILES,
    CheckpointError,
    CheckpointLocation,
    locate_checkpoint,
    shard_name,
)
from checkpoint_io.state import (
    check_state_against_model,
    full_state_dict,
    load_model_checkpoint,
    load_state,
    read_model_shard,
)

__all__ = [
    "SHARD_PATTERN",
    "TRACKER_FILES",
    "CheckpointError",
    "CheckpointLocation",
    "check_state_against_model",
    "extract_module_state",
    "full_state_dict",
    "load_checkpoint_file",
    "load_model_checkpoint",
    "load_state",
    "locate_checkpoint",
    "read_model_shard",
    "shard_name",
]
