"""Writing torch checkpoint files one group of tensors at a time, with bounded memory.

``torch.save`` needs every tensor of a file in memory at once. Here each file is first saved
from a skeleton under ``torch.serialization.skip_data()``: its tensors are allocated but never
touched (so they take no memory) and the file gets its full size with the data records left
empty. The records are then filled one group of tensors at a time through a shared memory map
of the file (``load_checkpoint_file(writable=True)``), dropped after each group, so at most one
group's pages are resident whatever the size of the file. torch does not check the zip CRC of
data records (it cannot when it maps a file), which keep the value of the empty records; the
manifest's SHA-256 covers the whole file.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

import torch

from checkpoint_io import TensorSpec, load_checkpoint_file


def placeholders(specs: dict[str, TensorSpec]) -> dict[str, torch.Tensor]:
    """Uninitialised tensors of these shapes: memory is reserved, never touched."""
    return {key: torch.empty(spec.shape, dtype=spec.dtype) for key, spec in specs.items()}


def _copy_tensors(target, source) -> None:
    """Copy every tensor of the nested ``source`` into the same place of ``target``."""
    if isinstance(source, torch.Tensor):
        target.copy_(source)
    elif isinstance(source, dict):
        for key, value in source.items():
            _copy_tensors(target[key], value)
    elif isinstance(source, list | tuple):
        for item, value in zip(target, source, strict=True):
            _copy_tensors(item, value)


class StreamedFiles:
    """Torch checkpoint files (one per rank) whose weights are written a group at a time.

    Each file holds ``{**extras, module_key: weights}`` (or the weights alone with
    ``module_key`` None, as in a Hugging Face ``pytorch_model.bin``).
    """

    def __init__(
        self,
        paths: dict[int, Path],
        specs: dict[int, dict[str, TensorSpec]],
        extras: dict[int, dict] | None = None,
        module_key: str | None = "module",
    ):
        self.paths = paths
        self.module_key = module_key
        for rank, path in paths.items():
            self._save_skeleton(path, specs[rank], (extras or {}).get(rank, {}))

    def _save_skeleton(self, path: Path, specs: dict[str, TensorSpec], extras: dict) -> None:
        weights = placeholders(specs)
        skeleton = {**extras, self.module_key: weights} if self.module_key else weights
        with torch.serialization.skip_data():
            torch.save(skeleton, path)
        if extras:
            _copy_tensors(load_checkpoint_file(path, writable=True), extras)

    @contextmanager
    def open(
        self, keys: Iterable[str], ranks: Iterable[int] | None = None
    ) -> Iterator[dict[int, dict[str, torch.Tensor]]]:
        """Writable tensors ``keys`` of each file (of ``ranks``, default all): what is copied
        into them lands in the file. They are released when the block ends."""
        keys = list(keys)
        targets: dict[int, dict[str, torch.Tensor]] = {}
        for rank in self.paths if ranks is None else ranks:
            checkpoint = load_checkpoint_file(self.paths[rank], writable=True)
            weights = checkpoint[self.module_key] if self.module_key else checkpoint
            targets[rank] = {key: weights[key] for key in keys}
        try:
            yield targets
        finally:
            targets.clear()
