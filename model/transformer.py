"""The pre-LayerNorm transformer stack of GLM.

Per layer: ``x + Attention(LN(x))`` then ``x + MLP(LN(x))``; a final LayerNorm after the
stack. The MLP is column-parallel ``h -> 4h`` (``--intermediate-size`` if given),
tanh-approximated GeLU, row-parallel ``4h -> h``, then dropout. Embedding lookups live in
``model/glm.py``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.attention import SelfAttention, normalize_attention_mask
from model.config import GLMConfig
from model.dropout import Dropout
from model.kv_cache import KVCache
from model.rotary import Rotary, rotary_tables
from mpu import ColumnParallelLinear, RowParallelLinear, checkpoint


class MLP(nn.Module):
    def __init__(self, config: GLMConfig):
        super().__init__()
        h, ffn = config.hidden_size, config.ffn_size
        self.dense_h_to_4h = ColumnParallelLinear(h, ffn)
        self.dense_4h_to_h = RowParallelLinear(ffn, h, input_is_parallel=True)
        self.dropout = Dropout(config.output_dropout_prob)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = F.gelu(self.dense_h_to_4h(x), approximate="tanh")
        return self.dropout(self.dense_4h_to_h(hidden))


class TransformerLayer(nn.Module):
    def __init__(self, config: GLMConfig, layer_index: int):
        super().__init__()
        h, eps = config.hidden_size, config.layernorm_epsilon
        self.input_layernorm = nn.LayerNorm(h, eps=eps)
        self.attention = SelfAttention(config, layer_index)
        self.post_attention_layernorm = nn.LayerNorm(h, eps=eps)
        self.mlp = MLP(config)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        kv_cache: KVCache | None = None,
        rotary: Rotary | None = None,
    ) -> torch.Tensor:
        if kv_cache is not None:
            return self._forward_with_cache(x, mask, kv_cache, rotary)
        return self._forward(x, mask, None, rotary)

    def _forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        kv_cache: KVCache | None,
        rotary: Rotary | None = None,
    ) -> torch.Tensor:
        x = x + self.attention(self.input_layernorm(x), mask, kv_cache, rotary)
        return x + self.mlp(self.post_attention_layernorm(x))

    # With --compile, the passes that fill and extend a KV cache stay eager: compiled, CPU
    # decoding measured 7x slower per token (guards on the growing cache, recompilations).
    # GLMModel.compile_layers wraps this in torch.compiler.disable; a decorator here would import
    # torch._dynamo (~65 MiB) into every process, inference included.
    def _forward_with_cache(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        kv_cache: KVCache,
        rotary: Rotary | None = None,
    ) -> torch.Tensor:
        return self._forward(x, mask, kv_cache, rotary)


class GLMTransformer(nn.Module):
    """Position tables (none with rotary positions), the layer stack and the final LayerNorm
    (keys ``transformer.*``)."""

    def __init__(self, config: GLMConfig):
        super().__init__()
        self.config = config
        h, rows = config.hidden_size, config.position_table_rows
        self.embedding_dropout = Dropout(config.embedding_dropout_prob)
        if not config.rotary:
            self.position_embeddings = nn.Embedding(rows, h)
            if config.block_position_encoding:
                self.block_position_embeddings = nn.Embedding(rows, h)
        self.layers = nn.ModuleList(TransformerLayer(config, i) for i in range(config.num_layers))
        self.final_layernorm = nn.LayerNorm(h, eps=config.layernorm_epsilon)

    def _check_positions(self, position_ids: torch.Tensor) -> None:
        if self.config.block_position_encoding and (
            position_ids.dim() != 3 or position_ids.shape[1] != 2
        ):
            raise ValueError(
                f"position_ids must be [batch, 2, length] with 2-D positions, "
                f"got {tuple(position_ids.shape)}"
            )

    def embed_positions(self, position_ids: torch.Tensor) -> torch.Tensor:
        """``[b, 2, L]`` (position, block position) or ``[b, L]`` ids -> ``[b, L, h]``."""
        self._check_positions(position_ids)
        if self.config.block_position_encoding:
            return self.position_embeddings(position_ids[:, 0]) + self.block_position_embeddings(
                position_ids[:, 1]
            )
        return self.position_embeddings(position_ids)

    def forward(
        self,
        hidden: torch.Tensor,
        position_ids: torch.Tensor,
        attention_mask: torch.Tensor | int,
        kv_cache: KVCache | None = None,
    ) -> torch.Tensor:
        batch, length, _ = hidden.shape
        past = kv_cache.length if kv_cache is not None else 0
        key_mask = kv_cache.key_mask if kv_cache is not None else None
        mask = normalize_attention_mask(attention_mask, batch, length, past, key_mask)
        rotary = None
        if self.config.rotary:
            self._check_positions(position_ids)
            rotary = rotary_tables(position_ids, self.config.head_dim, hidden.dtype)
            hidden = self.embedding_dropout(hidden)
        else:
            hidden = self.embedding_dropout(hidden + self.embed_positions(position_ids))
        if self.config.checkpoint_activations and self.training and kv_cache is None:
            hidden = self._checkpointed_layers(hidden, mask, rotary)
        else:
            for layer in self.layers:
                hidden = layer(hidden, mask, kv_cache, rotary)
        if kv_cache is not None:
            kv_cache.advance(length)
        return self.final_layernorm(hidden)

    def _checkpointed_layers(
        self, hidden: torch.Tensor, mask: torch.Tensor | None, rotary: Rotary | None
    ) -> torch.Tensor:
        """Recompute chunks of ``checkpoint_num_layers`` layers in backward."""
        chunk = self.config.checkpoint_num_layers

        def run(start: int):
            def forward_chunk(x, m):
                for layer in self.layers[start : start + chunk]:
                    x = layer(x, m, None, rotary)
                return x

            return forward_chunk

        for start in range(0, len(self.layers), chunk):
            hidden = checkpoint(run(start), hidden, mask)
        return hidden
