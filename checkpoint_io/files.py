"""Reading checkpoint files safely: ``torch.load(weights_only=True)`` or safetensors.

Files load with ``torch.load(weights_only=True)`` (plus the NumPy types that RNG states in
training checkpoints are pickled with) and memory mapping; a damaged file, or one that pickles
objects other than weights, is a one-line error naming it. Files in torch's legacy (pre-1.6,
non-zip) format cannot be mapped and are read whole.
"""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import torch

from checkpoint_io.layout import CheckpointError

NUMPY_GLOBALS = [  # the types RNG states in training checkpoints are pickled with
    np._core.multiarray._reconstruct,
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    np.dtypes.UInt32DType,
    np.dtypes.Int64DType,
    np.dtypes.Float64DType,
]


def load_checkpoint_file(path: Path, writable: bool = False) -> dict:
    """``torch.load`` a shard safely, memory-mapped (or read a safetensors shard, whose tensors
    are the ``module``); a damaged file is a one-line error naming it.

    ``writable`` maps the file shared: writing to its tensors writes the file (how
    ``interop.streamed`` fills a file saved without data).
    """
    path = Path(path)
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    # set_default_mmap_options takes effect when constructed, not on entering the block.
    flags = mmap.MAP_SHARED if writable else mmap.MAP_PRIVATE
    try:
        with (
            torch.serialization.safe_globals(NUMPY_GLOBALS),
            torch.serialization.set_default_mmap_options(flags),
        ):
            return _mapped_or_whole(path)
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint file {path} does not exist") from error
    except Exception as error:  # noqa: BLE001 - torch raises several types for damaged files
        unsafe = _unsafe_globals(path)
        if unsafe:
            raise CheckpointError(
                f"{path} pickles objects that are not weights ({', '.join(unsafe[:5])}); "
                "load it in a trusted Python session and re-save {'module': state_dict}"
            ) from error
        raise CheckpointError(
            f"cannot read checkpoint file {path} ({type(error).__name__}: "
            f"{str(error).splitlines()[0][:120]}): it is truncated or corrupt, copy it again"
        ) from error


def _mapped_or_whole(path: Path) -> dict:
    try:
        return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
    except RuntimeError as error:
        if "mmap can only be used with files saved with" not in str(error):
            raise
    return torch.load(path, map_location="cpu", weights_only=True)


def _load_safetensors(path: Path) -> dict:
    from safetensors import safe_open

    try:
        with safe_open(str(path), framework="pt") as handle:
            module = {key: handle.get_tensor(key) for key in handle.keys()}  # noqa: SIM118
            metadata = handle.metadata() or {}
    except FileNotFoundError as error:
        raise CheckpointError(f"checkpoint file {path} does not exist") from error
    except Exception as error:  # noqa: BLE001 - safetensors raises its own error types
        raise CheckpointError(
            f"cannot read checkpoint file {path} ({error}): it is truncated or corrupt"
        ) from error
    checkpoint = {"module": module}
    if "iteration" in metadata:
        checkpoint["iteration"] = int(metadata["iteration"])
    return checkpoint


def _unsafe_globals(path: Path) -> list[str]:
    try:
        found = torch.serialization.get_unsafe_globals_in_checkpoint(path)
    except Exception:  # noqa: BLE001 - a truncated file cannot even be scanned
        return []
    allowed = {"numpy._core.multiarray._reconstruct", "numpy.core.multiarray._reconstruct"}
    return [name for name in found if name not in allowed and not name.startswith("numpy.")]


def extract_module_state(checkpoint: dict, path: Path) -> dict[str, torch.Tensor]:
    """The model state dict stored under ``module`` (a ``module.`` prefix is tolerated)."""
    if not isinstance(checkpoint, dict) or not isinstance(checkpoint.get("module"), dict):
        raise CheckpointError(f"{path} has no 'module' state dict: not a GLM model checkpoint")
    state = checkpoint["module"]
    if state and all(key.startswith("module.") for key in state):
        state = {key[len("module.") :]: value for key, value in state.items()}
    return state
