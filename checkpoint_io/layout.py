"""The GLM checkpoint layout: tracker files, tags and shard files, and finding them.

Layout (released GLM checkpoints, and what DeepSpeed writes)::

    <dir>/latest_checkpointed_iteration.txt    the tag: "250000", "release", "best", ...
    <dir>/latest                                the same tag, written by DeepSpeed
    <dir>/<tag>/mp_rank_00_model_states.pt      {"module": state_dict, "iteration": ..., ...}
    <dir>/<tag>/mp_rank_01_model_states.pt      one file per tensor-parallel rank

``<dir>`` may also be a tag folder itself.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TRACKER_FILES = ("latest_checkpointed_iteration.txt", "latest")
SHARD_PATTERN = re.compile(r"^mp_rank_(\d{2})_model_states\.(pt|safetensors)$")


class CheckpointError(ValueError):
    """A checkpoint that cannot be used as asked; the message says why and what to do."""


@dataclass(frozen=True)
class CheckpointLocation:
    tag_dir: Path  # the folder holding mp_rank_XX_model_states.pt (or .safetensors)
    tag: str
    num_shards: int
    suffix: str = "pt"

    def shard_path(self, rank: int) -> Path:
        return self.tag_dir / f"mp_rank_{rank:02d}_model_states.{self.suffix}"


def _read_tag(root: Path) -> str | None:
    for name in TRACKER_FILES:
        tracker = root / name
        if tracker.is_file():
            tag = tracker.read_text().strip()
            if not tag:
                raise CheckpointError(f"{tracker} is empty: it should hold the checkpoint tag")
            return tag
    return None


def locate_checkpoint(path: str | Path) -> CheckpointLocation:
    """Resolve ``path`` (a checkpoint folder or one of its tag folders) to its shard files."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"checkpoint folder {root} does not exist")
    tag = _read_tag(root)
    tag_dir = root / tag if tag is not None else root
    if tag is not None and not tag_dir.is_dir():
        raise CheckpointError(f"{root} names tag {tag!r} but the folder {tag_dir} is missing")
    found = [m for f in tag_dir.iterdir() if (m := SHARD_PATTERN.match(f.name))]
    ranks = sorted(int(m.group(1)) for m in found)
    if not ranks:
        raise CheckpointError(
            f"no mp_rank_XX_model_states.pt in {tag_dir}: not a GLM checkpoint folder "
            "(expected latest_checkpointed_iteration.txt and <tag>/mp_rank_00_model_states.pt)"
        )
    missing = sorted(set(range(max(ranks) + 1)) - set(ranks))
    if missing:
        raise CheckpointError(
            f"{tag_dir} lacks shard mp_rank_{missing[0]:02d}_model_states.pt "
            f"(found ranks {ranks}): copy the missing file"
        )
    suffix = "pt" if any(m.group(2) == "pt" for m in found) else "safetensors"
    return CheckpointLocation(tag_dir, tag if tag is not None else tag_dir.name, len(ranks), suffix)


def shard_name(rank: int, safetensors: bool = False) -> str:
    """The file name of tensor-parallel rank ``rank``'s shard."""
    return f"mp_rank_{rank:02d}_model_states." + ("safetensors" if safetensors else "pt")
