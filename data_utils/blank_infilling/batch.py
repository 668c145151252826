"""`GLMBatch`, the typed pretraining batch, and `BatchArrays`, its numpy form while being built."""

from dataclasses import dataclass, fields, replace

import numpy as np
import torch


@dataclass
class GLMBatch:
    """A blank-infilling batch; `b` samples right-padded with 0 to the longest, `T`.

    - `tokens`, `targets` `[b, T]` long: inputs, and the token each position predicts (read only
      where `loss_mask` is 1).
    - `loss_mask` `[b, T]` float: 1 on Part-B positions to predict.
    - `position_ids` `[b, 2, T]` long (position, block position), or `[b, T]` with `--masked-lm`.
    - `sep` `[b]` long: Part-A length per sample; Part A attends bidirectionally, Part B
      causally (the model builds its attention mask from this).
    - `attention_mask`: a full `[b, T, T]` bool mask for modes that need one; every mode built
      here is expressed by `sep`, so it is None.
    - `mode`: `bert`, `sentence` or `gpt` (the objective drawn for this batch).
    """

    tokens: torch.Tensor
    targets: torch.Tensor
    loss_mask: torch.Tensor
    position_ids: torch.Tensor
    sep: torch.Tensor
    mode: str
    attention_mask: torch.Tensor | None = None

    def _map(self, fn) -> "GLMBatch":
        changes = {
            f.name: fn(getattr(self, f.name))
            for f in fields(self)
            if isinstance(getattr(self, f.name), torch.Tensor)
        }
        return replace(self, **changes)

    def to(self, device: torch.device | str, non_blocking: bool = False) -> "GLMBatch":
        return self._map(lambda t: t.to(device, non_blocking=non_blocking))

    def pin_memory(self) -> "GLMBatch":
        """Called by DataLoader(pin_memory=True) on custom batch types."""
        return self._map(lambda t: t.pin_memory())


@dataclass
class BatchArrays:
    """Numpy twin of `GLMBatch` plus each row's real length, for in-place corruption steps."""

    tokens: np.ndarray  # int64 [b, T]
    targets: np.ndarray  # int64 [b, T]
    loss_mask: np.ndarray  # float32 [b, T]
    position_ids: np.ndarray  # int64 [b, 2, T] or [b, T]
    sep: np.ndarray  # int64 [b]
    lengths: np.ndarray  # int64 [b]

    @classmethod
    def zeros(cls, sep: np.ndarray, lengths: np.ndarray, two_d: bool) -> "BatchArrays":
        b, width = len(lengths), int(lengths.max())
        shape = (b, 2, width) if two_d else (b, width)
        return cls(
            tokens=np.zeros((b, width), dtype=np.int64),
            targets=np.zeros((b, width), dtype=np.int64),
            loss_mask=np.zeros((b, width), dtype=np.float32),
            position_ids=np.zeros(shape, dtype=np.int64),
            sep=sep.astype(np.int64),
            lengths=lengths.astype(np.int64),
        )

    def to_batch(self, mode: str) -> GLMBatch:
        return GLMBatch(
            tokens=torch.from_numpy(self.tokens),
            targets=torch.from_numpy(self.targets),
            loss_mask=torch.from_numpy(self.loss_mask),
            position_ids=torch.from_numpy(self.position_ids),
            sep=torch.from_numpy(self.sep),
            mode=mode,
        )
