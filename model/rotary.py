"""Rotary position encoding for GLM's 1-D and 2-D positions (``--position-encoding rotary``).

Instead of adding position tables to the embeddings, every query and key is rotated by angles
proportional to its position, so that their dot product depends on the distance between the
two positions only. With 2-D positions the head is split in two halves: the first is rotated by
the position (where the token sits in Part A, or the position of its span's mask), the second by
the block position (0 in Part A, 1, 2, ... inside a span). Within a half of ``c`` dimensions,
dimension ``i < c/2`` pairs with ``i + c/2`` and turns by ``position * base**(-2i/c)``.

Why it is offered: GLM's learned tables have to learn which position neighbours which, and in
blank infilling only the first token of each span needs Part A's neighbours of its mask. A tiny
model trained for minutes never learns it (docs/demo.md); rotated queries and keys start with it.
Models released with GLM's tables keep ``absolute``: a rotary model has no position tables.
"""

from __future__ import annotations

import torch

BASE = 10000.0
Rotary = tuple[torch.Tensor, torch.Tensor]  # cos and sin from rotary_tables


def rotary_tables(position_ids: torch.Tensor, head_dim: int, dtype: torch.dtype) -> Rotary:
    """``cos`` and ``sin`` ``[b, 1, L, k, head_dim / 2k]`` in ``dtype`` (computed in fp32) for
    ``position_ids`` ``[b, 2, L]`` (k = 2 channels: position, block position) or ``[b, L]``
    (k = 1); one pair serves every layer."""
    channels = position_ids.unsqueeze(1) if position_ids.dim() == 2 else position_ids
    chunk = head_dim // channels.shape[1]
    steps = torch.arange(0, chunk, 2, dtype=torch.float32, device=position_ids.device)
    inv_freq = BASE ** (-steps / chunk)  # (c/2,)
    angles = channels.transpose(1, 2).unsqueeze(-1).float() * inv_freq  # (b, L, k, c/2)
    angles = angles.unsqueeze(1)  # (b, 1, L, k, c/2): shared by the heads
    return angles.cos().to(dtype), angles.sin().to(dtype)


def apply_rotary(x: torch.Tensor, tables: Rotary) -> torch.Tensor:
    """Rotate queries or keys ``[b, n, L, d]`` by ``tables`` from ``rotary_tables``."""
    cos, sin = tables
    b, n, length, d = x.shape
    channels, half = cos.shape[-2], cos.shape[-1]
    x = x.reshape(b, n, length, channels, 2 * half)
    first, second = x[..., :half], x[..., half:]
    rotated = torch.cat([first * cos - second * sin, second * cos + first * sin], dim=-1)
    return rotated.view(b, n, length, d)
