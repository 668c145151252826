"""Finding a checkpoint's shards: the tag, the shard files, and what its manifest promises.

With a manifest the shard count is the recorded model-parallel size and every listed shard must
be present at its recorded size. Without one (original GLM checkpoints) the ranks found must run
0..N-1; whether N is the size the checkpoint was saved at is checked once its first shard's
tensor shapes are read (``checkpoint_io.stream.open_checkpoint``).
"""

from __future__ import annotations

from pathlib import Path

from checkpoint_io.layout import (
    SHARD_PATTERN,
    TRACKER_FILES,
    ZERO3_MODEL_PATTERN,
    CheckpointError,
    CheckpointLocation,
)
from checkpoint_io.manifest import check_listed_shards, read_manifest


def _read_tag(root: Path) -> str | None:
    for name in TRACKER_FILES:
        tracker = root / name
        if tracker.is_file():
            tag = tracker.read_text().strip()
            if not tag:
                raise CheckpointError(f"{tracker} is empty: it should hold the checkpoint tag")
            return tag
    return None


def _no_shards(tag_dir: Path) -> CheckpointError:
    if any(ZERO3_MODEL_PATTERN.match(f.name) for f in tag_dir.iterdir()):
        return CheckpointError(
            f"{tag_dir} is a ZeRO-3 checkpoint of a training run (its weights live in the "
            "optimizer files): consolidate it first with "
            "`python change_mp.py --from-zero CHECKPOINT [TARGET_MP]`"
        )
    return CheckpointError(
        f"no mp_rank_XX_model_states.pt in {tag_dir}: not a GLM checkpoint folder "
        "(expected latest_checkpointed_iteration.txt and <tag>/mp_rank_00_model_states.pt)"
    )


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
    """Data-parallel rank 0's model-state file of a ZeRO stage 3 tag folder (the train state
    of a run lives there), if it is one."""
    path = tag_dir / "zero_pp_rank_0_mp_rank_00_model_states.pt"
    return path if path.is_file() else None


def locate_checkpoint(path: str | Path) -> CheckpointLocation:
    """Resolve ``path`` (a checkpoint folder or one of its tag folders) to its shard files."""
    tag_dir, tag = tag_folder(path)
    manifest = read_manifest(tag_dir)
    if manifest is not None:
        size = check_listed_shards(tag_dir, manifest)
        suffix = (
            "safetensors" if any(n.endswith(".safetensors") for n in manifest["shards"]) else "pt"
        )
        return CheckpointLocation(tag_dir, tag, size, suffix, manifest)
    found = [m for f in tag_dir.iterdir() if (m := SHARD_PATTERN.match(f.name))]
    ranks = sorted(int(m.group(1)) for m in found)
    if not ranks:
        raise _no_shards(tag_dir)
    missing = sorted(set(range(max(ranks) + 1)) - set(ranks))
    if missing:
        raise CheckpointError(
            f"{tag_dir} lacks shard mp_rank_{missing[0]:02d}_model_states.pt "
            f"(found ranks {ranks}): copy the missing file"
        )
    suffix = "pt" if any(m.group(2) == "pt" for m in found) else "safetensors"
    return CheckpointLocation(tag_dir, tag, len(ranks), suffix)
