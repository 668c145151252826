"""A key/value cache for incremental decoding, owned by the model's caller.

Keys and values of every layer live in preallocated buffers ``[b, heads_local, max_len, d]``;
a forward pass with a cache writes its new positions at ``[length, length + L)`` and attends to
``[0, length + L)``. ``key_mask`` (optional, ``[b, max_len]``, True = real token) hides padding
keys, which lets texts of different lengths share one batch. ``reorder`` follows beam search.
"""

from __future__ import annotations

import torch


class KVCache:
    def __init__(
        self,
        num_layers: int,
        batch_size: int,
        num_heads: int,
        head_dim: int,
        max_length: int,
        dtype: torch.dtype = torch.float32,
        device: torch.device | str = "cpu",
    ):
        shape = (batch_size, num_heads, max_length, head_dim)
        self.keys = [torch.empty(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.values = [torch.empty(shape, dtype=dtype, device=device) for _ in range(num_layers)]
        self.max_length = max_length
        self.length = 0
        self.key_mask: torch.Tensor | None = None

    @property
    def batch_size(self) -> int:
        return self.keys[0].shape[0]

    def update(
        self, layer: int, key: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``key``/``value`` ``[b, n, L, d]`` after the cached ones; return all of them."""
        end = self.length + key.shape[2]
        if end > self.max_length:
            raise ValueError(
                f"KV cache holds {self.max_length} positions, {end} needed: "
                "allocate a longer cache (context + tokens to generate)"
            )
        self.keys[layer][:, :, self.length : end] = key
        self.values[layer][:, :, self.length : end] = value
        return self.keys[layer][:, :, :end], self.values[layer][:, :, :end]

    def advance(self, num_tokens: int) -> None:
        """Commit ``num_tokens`` new positions once every layer has stored them."""
        self.length += num_tokens

    def set_key_mask(self, valid: torch.Tensor) -> None:
        """Mark which cached and future positions are real (``[b, max_len]`` bool)."""
        self.key_mask = valid

    def reorder(self, index: torch.Tensor) -> None:
        """Keep batch rows ``index`` (beam search re-ranking, or expanding choices)."""
        self.keys = [k.index_select(0, index) for k in self.keys]
        self.values = [v.index_select(0, index) for v in self.values]
        if self.key_mask is not None:
            self.key_mask = self.key_mask.index_select(0, index)
