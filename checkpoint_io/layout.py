"""The GLM checkpoint layout: tracker files, tags and shard files, and finding them.

Layout (released GLM checkpoints, and what DeepSpeed writes)::

    <dir>/latest_checkpointed_iteration.txt    the tag: "250000", "release", "best", ...
    <dir>/latest                                the same tag, written by DeepSpeed
    <dir>/<tag>/mp_rank_00_model_states.pt      {"module": state_dict, "iteration": ..., ...}
    <dir>/<tag>/mp_rank_01_model_states.pt      one file per tensor-parallel rank

``<dir>`` may also be a tag folder itself. Under ZeRO stage 3 DeepSpeed writes no
``mp_rank_XX_model_states.pt``: every data-parallel rank writes its partition,
``<tag>/zero_pp_rank_<d>_mp_rank_<XX>_model_states.pt`` (plus ``..._optim_states.pt``). Such a
folder resumes training (``training.checkpointing``) but holds no whole weights: tools that
read weights ask for ``change_mp.py --from-zero`` first.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

TRACKER_FILES = ("latest_checkpointed_iteration.txt", "latest")
SHARD_PATTERN = re.compile(r"^mp_rank_(\d{2})_model_states\.(pt|safetensors)$")
ZERO3_PATTERN = re.compile(r"^zero_pp_rank_(\d+)_mp_rank_(\d{2})_model_states\.pt$")


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


def tag_folder(path: str | Path) -> tuple[Path, str]:
    """``(tag folder, tag)`` of ``path``: a checkpoint folder (its tracker names the tag) or a
    tag folder itself."""
    root = Path(path)
    if not root.is_dir():
        raise CheckpointError(f"checkpoint folder {root} does not exist")
    tag = _read_tag(root)
    tag_dir = root / tag if tag is not None else root
    if tag is not None and not tag_dir.is_dir():
        raise CheckpointError(f"{root} names tag {tag!r} but the folder {tag_dir} is missing")
    return tag_dir, tag if tag is not None else tag_dir.name


def zero3_state_file(tag_dir: Path) -> Path | None:
    """Data-parallel rank 0's model-state file of a ZeRO stage 3 tag folder, if it is one."""
    path = tag_dir / "zero_pp_rank_0_mp_rank_00_model_states.pt"
    return path if path.is_file() else None


def locate_checkpoint(path: str | Path) -> CheckpointLocation:
    """Resolve ``path`` (a checkpoint folder or one of its tag folders) to its shard files."""
    tag_dir, tag = tag_folder(path)
    found = [m for f in tag_dir.iterdir() if (m := SHARD_PATTERN.match(f.name))]
    ranks = sorted(int(m.group(1)) for m in found)
    if not ranks and zero3_state_file(tag_dir) is not None:
        raise CheckpointError(
            f"{tag_dir} is a ZeRO stage 3 training checkpoint: its weights are partitioned over "
            f"the data-parallel ranks; write whole weights first with "
            f"`python change_mp.py --from-zero {path}` and use its output"
        )
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
    return CheckpointLocation(tag_dir, tag, len(ranks), suffix)


def shard_name(rank: int, safetensors: bool = False) -> str:
    """The file name of tensor-parallel rank ``rank``'s shard."""
    return f"mp_rank_{rank:02d}_model_states." + ("safetensors" if safetensors else "pt")
