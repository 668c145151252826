"""The manifest of a checkpoint tag folder: its model-parallel size and a checksum per shard.

``<tag>/manifest.json``::

    {"format": "glm-checkpoint-manifest", "version": 1, "model_parallel_size": 2,
     "num_attention_heads": 16,                                   (when known)
     "shards": {"mp_rank_00_model_states.pt": {"bytes": ..., "sha256": "..."}, ...}}

It is written when a checkpoint is saved (training, ``change_mp.py``, the Hugging Face import)
and read when one is loaded: the shard count and sizes are checked at once (a missing or
truncated shard is named), the checksums in one streaming pass over each shard that is read
(``--no-verify-checkpoint`` skips that pass for huge files). ``sha256sum`` checks them by hand.
Original GLM checkpoints have no manifest: their shard count is checked against the tensor
shapes instead (``checkpoint_io.stream.implied_model_parallel_size``).
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from checkpoint_io.layout import SHARD_PATTERN, CheckpointError, run_config_heads
from common.atomic import atomic_write_text

MANIFEST = "manifest.json"
FORMAT = "glm-checkpoint-manifest"


def file_sha256(path: Path) -> str:
    """The SHA-256 of a file, read in chunks (memory stays flat whatever its size)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def write_manifest(tag_dir: str | Path, num_attention_heads: int | None = None) -> Path | None:
    """Write ``<tag_dir>/manifest.json`` for the ``mp_rank_XX_model_states`` files in it.

    Returns its path, or None when the folder holds no such shard (a ZeRO-3 folder, whose
    weights live in the optimizer files). Call it once every shard is complete.
    """
    tag_dir = Path(tag_dir)
    shards = sorted(f for f in tag_dir.iterdir() if SHARD_PATTERN.match(f.name))
    if not shards:
        return None
    manifest: dict = {"format": FORMAT, "version": 1, "model_parallel_size": len(shards)}
    if num_attention_heads is not None:
        manifest["num_attention_heads"] = num_attention_heads
    manifest["shards"] = {
        f.name: {"bytes": f.stat().st_size, "sha256": file_sha256(f)} for f in shards
    }
    return atomic_write_text(tag_dir / MANIFEST, json.dumps(manifest, indent=1) + "\n")


def read_manifest(tag_dir: Path) -> dict | None:
    """The manifest of ``tag_dir`` (None if it has none); a damaged one is an error."""
    path = tag_dir / MANIFEST
    if not path.is_file():
        return None
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
        shards = manifest["shards"]
        valid = (
            manifest.get("format") == FORMAT
            and isinstance(manifest.get("model_parallel_size"), int)
            and all(
                isinstance(e["bytes"], int) and isinstance(e["sha256"], str)
                for e in shards.values()
            )
        )
    except (ValueError, KeyError, TypeError, AttributeError) as error:
        raise CheckpointError(
            f"{path} is damaged ({type(error).__name__}): copy the checkpoint folder again"
        ) from error
    if not valid:
        raise CheckpointError(f"{path} is not a GLM checkpoint manifest: copy the folder again")
    return manifest


def check_listed_shards(tag_dir: Path, manifest: dict) -> int:
    """Every shard the manifest lists is present with its recorded size, and no other is;
    returns the model-parallel size."""
    size = manifest["model_parallel_size"]
    listed = manifest["shards"]
    if len(listed) != size:
        raise CheckpointError(
            f"{tag_dir / MANIFEST} lists {len(listed)} shards for model-parallel size {size}: "
            "it is damaged; copy the checkpoint folder again"
        )
    for name, entry in sorted(listed.items()):
        path = tag_dir / name
        if not path.is_file():
            raise CheckpointError(
                f"{tag_dir} lacks shard {name} (its {MANIFEST} lists {size} shards): "
                "copy the missing file"
            )
        found = path.stat().st_size
        if found != entry["bytes"]:
            raise CheckpointError(
                f"{path} has {found} bytes but {MANIFEST} records {entry['bytes']}: the file "
                "is truncated or was changed; copy it again"
            )
    extra = sorted(f.name for f in tag_dir.iterdir() if SHARD_PATTERN.match(f.name))
    extra = [name for name in extra if name not in listed]
    if extra:
        raise CheckpointError(
            f"{tag_dir / extra[0]} is not listed in {MANIFEST} (model-parallel size {size}): "
            "it belongs to another checkpoint; remove it"
        )
    return size


def verify_checksum(path: Path, manifest: dict | None) -> None:
    """The file's SHA-256 equals the manifest's (nothing to check without a manifest)."""
    entry = (manifest or {}).get("shards", {}).get(path.name)
    if entry is not None and file_sha256(path) != entry["sha256"]:
        raise CheckpointError(
            f"{path} does not match the SHA-256 in {MANIFEST}: the file is corrupt; copy it again"
        )


def saved_heads(manifest: dict | None, run_config: dict | None) -> int | None:
    """The attention-head count recorded with a checkpoint, if any."""
    return (manifest or {}).get("num_attention_heads") or run_config_heads(run_config)
