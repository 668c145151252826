"""Checkpoints in the GLM layout: find them, check them, read them safely, load their weights.

Used by every tool that reads weights (generation, finetuning, resharding, conversion, the
server); saving and resuming training runs lives in ``training.checkpointing``, which calls
``write_manifest`` on each checkpoint it saves.
"""

from checkpoint_io.files import extract_module_state, load_checkpoint_file
from checkpoint_io.layout import (
    RUN_CONFIG,
    SHARD_PATTERN,
    TRACKER_FILES,
    CheckpointError,
    CheckpointLocation,
    read_run_config,
    run_config_heads,
    shard_name,
)
from checkpoint_io.locate import locate_checkpoint
from checkpoint_io.manifest import MANIFEST, file_sha256, verify_checksum, write_manifest
from checkpoint_io.state import (
    check_heads,
    check_state_against_model,
    full_state_dict,
    load_model_checkpoint,
    load_state,
    stream_into_model,
)
from checkpoint_io.stream import (
    GROUP_BYTES,
    OpenCheckpoint,
    ShardReader,
    TensorSpec,
    check_finite,
    open_checkpoint,
    plan_groups,
)

__all__ = [
    "GROUP_BYTES",
    "MANIFEST",
    "RUN_CONFIG",
    "SHARD_PATTERN",
    "TRACKER_FILES",
    "CheckpointError",
    "CheckpointLocation",
    "OpenCheckpoint",
    "ShardReader",
    "TensorSpec",
    "check_finite",
    "check_heads",
    "check_state_against_model",
    "extract_module_state",
    "file_sha256",
    "full_state_dict",
    "load_checkpoint_file",
    "load_model_checkpoint",
    "load_state",
    "locate_checkpoint",
    "open_checkpoint",
    "plan_groups",
    "read_run_config",
    "run_config_heads",
    "shard_name",
    "stream_into_model",
    "verify_checksum",
    "write_manifest",
]
