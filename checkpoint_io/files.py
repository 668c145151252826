"""Reading checkpoint files safely: ``torch.load(weights_only=True)`` or safetensors.

Files load with ``torch.load(weights_only=True)`` (plus the NumPy types that RNG states in
training checkpoints are pickled with) and memory mapping; a damaged file, or one that pickles
objects other than weights, is a one-line error naming it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from checkpoint_io.layout import CheckpointError

_NUMPY_GLOBALS = [
    np._core.multiarray._reconstruct,
    (np._core.multiarray._reconstruct, "numpy.core.multiarray._reconstruct"),
    np.ndarray,
    np.dtype,
    np.dtypes.UInt32DType,
    np.dtypes.Int64DType,
    np.dtypes.Float64DType,
]

# Which flag a mismatching tensor points to.


def load_checkpoint_file(path: Path) -> dict:
    """``torch.load`` a shard safely (or read a safetensors shard, whose tensors are the
    ``module``); a damaged file is a one-line error naming it."""
    if path.suffix == ".safetensors":
        return _load_safetensors(path)
    try:
        with torch.serialization.safe_globals(_NUMPY_GLOBALS):
            return torch.load(path, map_location="cpu", weights_only=True, mmap=True)
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
