"""GLMModel: word embeddings + GLM transformer + the tied output projection.

State-dict keys and shapes are those of released GLM checkpoints (``word_embeddings.weight``,
``transformer.position_embeddings.weight``, ``transformer.layers.N.attention.query_key_value``,
...), so they load with no renaming at the tensor-parallel size they were saved with.
"""

from __future__ import annotations

import re

import torch
import torch.nn.functional as F
from torch import nn

from model.config import GLMConfig
from model.dropout import register_keep_mask
from model.init import init_glm_weights
from model.kv_cache import KVCache
from model.prompt import PromptSpell
from model.transformer import GLMTransformer
from mpu import (
    ColumnParallelLinear,
    RowParallelLinear,
    VocabParallelEmbedding,
    copy_to_model_parallel_region,
    gather_from_model_parallel_region,
    get_model_parallel_world_size,
)

# How each tensor of a GLM state dict is split across tensor-parallel ranks: (dim, stride).
# Anything not listed (position tables, LayerNorms, row-parallel biases, heads, prompt encoder)
# is replicated. Keys may carry a wrapper prefix such as ``model.``.
_PARTITIONS = (
    (re.compile(r"(^|\.)word_embeddings\.weight$"), (0, 1)),
    (re.compile(r"\.attention\.query_key_value\.(weight|bias)$"), (0, 3)),
    (re.compile(r"\.mlp\.dense_h_to_4h\.(weight|bias)$"), (0, 1)),
    (re.compile(r"\.(attention\.dense|mlp\.dense_4h_to_h)\.weight$"), (1, 1)),
)


def glm_partition_spec(key: str) -> tuple[int, int] | None:
    """``(dim, stride)`` of a sharded GLM tensor, None if it is replicated."""
    return next((layout for pattern, layout in _PARTITIONS if pattern.search(key)), None)


class GLMModel(nn.Module):
    def __init__(self, config: GLMConfig, seed: int | None = 1234):
        """Build the model; ``seed`` initialises the weights (None leaves them empty, for a
        checkpoint to fill)."""
        super().__init__()
        self.config = config
        self.word_embeddings = VocabParallelEmbedding(config.vocab_size, config.hidden_size)
        self.transformer = GLMTransformer(config)
        if config.spell_length:
            self.prompt_spell = PromptSpell(
                config.spell_length, config.hidden_size, config.spell_func
            )
        if seed is not None:
            init_glm_weights(self, seed)
        if config.compile_layers:
            self.compile_layers()

    def compile_layers(self) -> GLMModel:
        """``torch.compile`` each transformer layer in place (module types and state-dict keys
        unchanged). Layers share code, so one compilation serves them all; the embeddings, the
        vocabulary projection and the loss stay eager."""
        register_keep_mask()  # before tracing: compiled layers call the registered op
        for layer in self.transformer.layers:
            layer._forward_with_cache = torch.compiler.disable(layer._forward_with_cache)
            layer.compile()
        return self

    def make_kv_cache(self, batch_size: int, max_length: int) -> KVCache:
        """An empty cache sized for this model on its device and dtype."""
        weight = self.word_embeddings.weight
        heads = self.config.num_attention_heads // get_model_parallel_world_size()
        return KVCache(
            self.config.num_layers,
            batch_size,
            heads,
            self.config.head_dim,
            max_length,
            dtype=weight.dtype,
            device=weight.device,
        )

    @torch.no_grad()
    def use_decoding_layout(self) -> GLMModel:
        """Store the weight matrices transposed in memory (values, shapes and state dict are
        unchanged). Decoding multiplies one vector per row by every matrix, which MKL does
        about twice as fast on CPU from this layout. For inference: ZeRO flattens parameters
        and expects the default layout, so do not train a model after calling this."""
        for module in self.modules():
            if isinstance(
                module, (ColumnParallelLinear, RowParallelLinear, VocabParallelEmbedding)
            ):
                module.weight.data = module.weight.data.t().contiguous().t()
        return self

    def forward(
        self,
        input_ids: torch.Tensor,
        position_ids: torch.Tensor,
        attention_mask: torch.Tensor | int,
        kv_cache: KVCache | None = None,
        prompt_pos: torch.Tensor | None = None,
        output_positions: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Logits ``[b, L, V/p]`` (``[b, L, V]`` without ``parallel_output``), or the final
        hidden states ``[b, L, h]`` when ``output_predict`` is off.

        ``attention_mask`` is the Part A length ``sep`` (an int, ``[1]`` or ``[b]``) or a full
        mask ``[b, (1,) L, K]`` (True/1 = may attend). With ``kv_cache`` the new tokens see
        every cached position and the cache grows by ``L``. ``output_positions`` (bool
        ``[b, L]``) restricts the logits to those positions, flattened to ``[N, V/p]``: the
        vocabulary projection is the largest matmul, and a loss rarely needs every position.
        """
        embeddings = self.word_embeddings(input_ids)
        if prompt_pos is not None:
            embeddings = self._insert_prompts(embeddings, prompt_pos)
        hidden = self.transformer(embeddings, position_ids, attention_mask, kv_cache)
        if not self.config.output_predict:
            return hidden
        if output_positions is not None:
            hidden = hidden[output_positions]  # (N, h)
        logits = F.linear(copy_to_model_parallel_region(hidden), self.word_embeddings.weight)
        if self.config.parallel_output:
            return logits
        return gather_from_model_parallel_region(logits)

    def _insert_prompts(self, embeddings: torch.Tensor, prompt_pos: torch.Tensor) -> torch.Tensor:
        """Overwrite the embeddings at ``prompt_pos`` ``[b, S]`` with the prompt encoder output."""
        prompts = self.prompt_spell().to(embeddings.dtype)  # (1, S, h)
        batch = torch.arange(embeddings.shape[0], device=embeddings.device).unsqueeze(1)
        embeddings = embeddings.clone()
        embeddings[batch, prompt_pos] = prompts.expand(embeddings.shape[0], -1, -1)
        return embeddings
