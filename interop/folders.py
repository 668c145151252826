"""Write checkpoint folders atomically, in the GLM layout.

A folder is built under a hidden temporary name beside its destination and renamed into place
only when complete, so an interrupted run never leaves a half-written checkpoint where a loader
would find it. The destination must not exist yet: we never overwrite a user's files.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import torch
from safetensors.torch import save_file

from checkpointing import TRACKER_FILES


@contextlib.contextmanager
def atomic_folder(out: str | Path) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out`` when the block ends without error."""
    out = Path(out)
    if out.exists():
        raise FileExistsError(f"output folder {out} already exists: remove it or choose --out")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        yield tmp
        os.replace(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def shard_name(rank: int, safetensors: bool = False) -> str:
    return f"mp_rank_{rank:02d}_model_states." + ("safetensors" if safetensors else "pt")


def write_checkpoint_folder(
    out: str | Path, tag: str, shards: list[dict], safetensors: bool = False
) -> Path:
    """Write ``out/<tag>/mp_rank_XX_model_states.*`` plus both tracker files, atomically.

    Each shard is a checkpoint dict holding at least ``module``. With ``safetensors`` only the
    tensors of ``module`` are stored (plus ``iteration`` as metadata): safetensors holds tensors,
    not RNG states or optimizer objects.
    """
    with atomic_folder(out) as tmp:
        (tmp / tag).mkdir()
        for name in TRACKER_FILES:
            (tmp / name).write_text(tag)
        for rank, shard in enumerate(shards):
            path = tmp / tag / shard_name(rank, safetensors)
            if safetensors:
                metadata = {"format": "pt", "iteration": str(shard.get("iteration", 0))}
                save_file(_contiguous(shard["module"]), path, metadata=metadata)
            else:
                torch.save(shard, path)
    return Path(out)


def _contiguous(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key: value.contiguous() for key, value in state.items()}
