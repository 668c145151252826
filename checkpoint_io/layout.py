"""The GLM checkpoint layout: tracker files, tags and shard files, and finding them.

Layout (released GLM checkpoints, and what DeepSpeed writes)::

    <dir>/latest_checkpointed_iteration.txt    the tag: "250000", "release", "best", ...
    <dir>/latest                                the same tag, written by DeepSpeed
    <dir>/<tag>/mp_rank_00_model_states.pt      {"module": state_dict, "iteration": ..., ...}
    <dir>/<tag>/mp_rank_01_model_states.pt      one file per tensor-parallel rank
    <dir>/<tag>/manifest.json                   ours: model-parallel size, a checksum per shard
    <dir>/<tag>/config.json                     ours: the resolved run configuration

``<dir>`` may also be a tag folder itself.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

TRACKER_FILES = ("latest_checkpointed_iteration.txt", "latest")
SHARD_PATTERN = re.compile(r"^mp_rank_(\d{2})_model_states\.(pt|safetensors)$")
# DeepSpeed ZeRO-3 model files: placeholders, the weights are in the optimizer files.
ZERO3_MODEL_PATTERN = re.compile(r"^zero_pp_rank_\d+_mp_rank_\d{2}_model_states\.pt$")
RUN_CONFIG = "config.json"  # the resolved run configuration our training saves in a tag folder


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class CheckpointLocation:
    tag_dir: Path  # the folder holding mp_rank_XX_model_states.pt (or .safetensors)
    tag: str
    num_shards: int
    suffix: str = "pt"
    manifest: dict | None = None  # checkpoint_io.manifest, None for original GLM checkpoints

    def shard_path(self, rank: int) -> Path:
        return self.tag_dir / f"mp_rank_{rank:02d}_model_states.{self.suffix}"


def shard_name(rank: int, safetensors: bool = False) -> str:
    """The file name of tensor-parallel rank ``rank``'s shard."""
    return f"mp_rank_{rank:02d}_model_states." + ("safetensors" if safetensors else "pt")


def read_run_config(tag_dir: Path) -> dict | None:
    """The run configuration saved beside the weights, if any (our training checkpoints)."""
    path = Path(tag_dir) / RUN_CONFIG
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as error:
        raise CheckpointError(
            f"{path} is not valid JSON ({error}): copy the checkpoint folder again"
        ) from error


def run_config_heads(run_config: dict | None) -> int | None:
    return ((run_config or {}).get("model") or {}).get("num_attention_heads")
