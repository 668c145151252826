"""Dropout that is cheaper on CPU, with the same distribution as ``torch.nn.Dropout``.

On CPU, ``torch.nn.functional.dropout`` draws its mask with ``bernoulli_``: one 53-bit double
per element from a serial Mersenne Twister (two 32-bit draws), stored as a float mask that
autograd keeps for backward. ``keep_mask`` draws one 31-bit integer per element from the same
seeded default generator and compares it with ``p * 2**31``: each element is kept with
probability ``1 - p`` (exact to ``2**-31``) independently, and the bool mask is a quarter of
the size. Measured on a 2-core CPU: about 15 ms instead of 33 ms for the ``[2, 12, 512, 512]``
attention probabilities of GLM-Base. On other devices ``Dropout`` is ``nn.Dropout``.

Masks come only from torch's default generator (or the tracked stream swapped into it by
``mpu.random``), so they replay exactly from a saved RNG state.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

_RANGE = 2**31  # int32 ``random_()`` draws uniformly from [0, 2**31)


def keep_mask(shape: torch.Size | tuple[int, ...], p: float, device: torch.device) -> torch.Tensor:
    """Bool tensor, each element True with probability ``1 - p``, from the default generator."""
    draws = torch.empty(shape, dtype=torch.int32, device=device).random_()
    return draws >= round(p * _RANGE)


def dropout(x: torch.Tensor, p: float, training: bool = True) -> torch.Tensor:
    """``F.dropout(x, p, training)`` with the CPU mask of ``keep_mask`` (same distribution)."""
    if not training or p == 0.0:
        return x
    if x.device.type != "cpu" or p >= 1.0:
        return F.dropout(x, p, training)
    # autograd saves only the bool mask for ``where``; the scale is a scalar multiply
    return torch.where(keep_mask(x.shape, p, x.device), x, 0.0) * (1.0 / (1.0 - p))


class Dropout(nn.Dropout):
    """``nn.Dropout`` (same attributes and repr) that uses ``dropout`` above."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.inplace:
            return super().forward(x)
        return dropout(x, self.p, self.training)
