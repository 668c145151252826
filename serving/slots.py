"""A KV cache whose rows ("slots") each hold one request at its own length.

``model.kv_cache.KVCache`` keeps one length for the whole batch, which suits a batch that starts
and ends together. A server's batch changes between decoding steps: requests join (their
context is encoded into a free slot) and leave (their slot is freed). Here every slot has its
own end, a step writes each row's token at that row's end, and a key mask hides the columns a
row has not written. Keys carry their position in their values (GLM adds position embeddings
to the input), so a key's column in the cache does not matter, only whether it is visible.

The cache presents itself to ``GLMTransformer`` exactly as a ``KVCache`` does (``length``,
``key_mask``, ``update``, ``advance``) for the rows of the pass in progress: a prefill of new
slots (``begin_prefill``) or one decoding step of slots ``0..n-1`` (``begin_step``). The rows
in use are kept at the front (``move`` fills a freed slot with the last one), so a step reads
one contiguous block of the buffers.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from model import GLMModel


class SlotCache:
    def __init__(self, model: GLMModel, slots: int, capacity: int = 64):
        first = model.make_kv_cache(slots, capacity)
        # Zeroed, not left as allocated: a hidden column still enters the attention products
        # (with weight 0), and 0 * NaN from stale memory would be NaN.
        self.keys = [k.zero_() for k in first.keys]
        self.values = [v.zero_() for v in first.values]
        self.device = self.keys[0].device
        self.ends = [0] * slots  # columns written per slot
        self.visible = torch.zeros(slots, capacity, dtype=torch.bool, device=self.device)
        # The pass in progress (what GLMTransformer reads):
        self.length = 0  # columns before the ones this pass writes
        self.key_mask: torch.Tensor | None = None
        self._rows = slice(0, 0)
        self._columns: torch.Tensor | None = None  # a step: where each row writes its token

    @property
    def capacity(self) -> int:
        return self.keys[0].shape[2]

    @property
    def max_length(self) -> int:
        return self.capacity

    @property
    def batch_size(self) -> int:
        return self._rows.stop - self._rows.start

    def reserve(self, columns: int) -> None:
        """Make room for ``columns`` columns per slot (the buffers at least double)."""
        if columns <= self.capacity:
            return
        grown = max(columns, 2 * self.capacity)

        def widen(t: torch.Tensor, dim: int) -> torch.Tensor:
            shape = list(t.shape)
            shape[dim] = grown
            bigger = t.new_zeros(shape)
            bigger.narrow(dim, 0, t.shape[dim]).copy_(t)
            return bigger

        self.keys = [widen(k, 2) for k in self.keys]
        self.values = [widen(v, 2) for v in self.values]
        self.visible = widen(self.visible, 1)

    def begin_prefill(self, first: int, lengths: Sequence[int]) -> None:
        """Slots ``first, first + 1, ...`` receive contexts of ``lengths`` tokens (right-padded
        to the longest; the padding stays hidden)."""
        self.reserve(max(lengths))
        self._rows = slice(first, first + len(lengths))
        self.visible[self._rows] = False
        for slot, n in enumerate(lengths, first):
            self.visible[slot, :n] = True
            self.ends[slot] = n
        self.length, self._columns = 0, None
        self.key_mask = self.visible[self._rows]

    def begin_step(self, rows: int) -> None:
        """Slots ``0..rows-1`` each receive one token at their own end."""
        ends = self.ends[:rows]
        self.length = max(ends)
        self.reserve(self.length + 1)
        self._rows = slice(0, rows)
        self._columns = torch.tensor(ends, device=self.device)
        self._row_index = torch.arange(rows, device=self.device)
        self.visible[self._row_index, self._columns] = True
        self.key_mask = self.visible[self._rows]
        for slot in range(rows):
            self.ends[slot] += 1

    def update(
        self, layer: int, key: torch.Tensor, value: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Store ``key``/``value`` ``[b, heads, L, d]`` of the rows in progress; return every
        column up to the widest row (hidden ones included, the key mask hides them)."""
        keys, values = self.keys[layer], self.values[layer]
        if self._columns is None:
            end = self.length + key.shape[2]
            keys[self._rows, :, self.length : end] = key
            values[self._rows, :, self.length : end] = value
        else:
            end = self.length + 1
            keys[self._row_index, :, self._columns] = key[:, :, 0]
            values[self._row_index, :, self._columns] = value[:, :, 0]
        return keys[self._rows, :, :end], values[self._rows, :, :end]

    def advance(self, num_tokens: int) -> None:
        """Called by the transformer after a pass; slot ends were set when it began."""
        self.length += num_tokens

    def move(self, source: int, target: int) -> None:
        """Copy slot ``source`` into slot ``target`` (to refill a freed slot)."""
        end = self.ends[source]
        for buffers in (self.keys, self.values):
            for t in buffers:
                t[target, :, :end] = t[source, :, :end]
        self.visible[target] = self.visible[source]
        self.ends[target] = end

    def clear(self, slot: int) -> None:
        self.visible[slot] = False
        self.ends[slot] = 0
