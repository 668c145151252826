"""GLM self-attention: the Part A / Part B mask and a tensor-parallel attention layer.

The mask. Part A (the corrupted text, ``sep`` tokens) is bidirectional; Part B (the spans being
generated) sees all of Part A and itself causally. For ``sep = 3``, 6 tokens, 2 cached keys::

              cached   current keys j
              m0 m1    a0 a1 a2 b0 b1 b2
    query a0   1  1     1  1  1  .  .  .
          a1   1  1     1  1  1  .  .  .
          a2   1  1     1  1  1  .  .  .
          b0   1  1     1  1  1  1  .  .
          b1   1  1     1  1  1  1  1  .
          b2   1  1     1  1  1  1  1  1

i.e. query i may attend key j iff ``j < sep or j <= i``, and every cached key is visible.
Incremental decoding passes ``sep = 0``. Padding keys are hidden by the cache's key mask.

Kernels: ``F.scaled_dot_product_attention`` everywhere except CPU training with attention
dropout, where SDPA has no fused kernel and falls back to its generic math path;
``attention_with_dropout`` computes the same thing with fewer passes over the ``[b, n, L, K]``
probabilities. A bf16 training step on CPU runs SDPA in fp32 at the shapes where that is
faster (``_fp32_on_cpu``; see docs/performance.md).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.config import GLMConfig
from model.dropout import Dropout, keep_mask
from model.kv_cache import KVCache
from model.rotary import Rotary, apply_rotary
from mpu import ColumnParallelLinear, RowParallelLinear, get_model_parallel_world_size
from mpu.random import MODEL_PARALLEL_RNG, get_rng_tracker


def build_attention_mask(
    sep: torch.Tensor, query_length: int, past_length: int = 0
) -> torch.Tensor:
    """Boolean mask ``[b, 1, L, M + L]`` (True = may attend) from per-sample ``sep`` ``[b]``."""
    device = sep.device
    i = torch.arange(query_length, device=device).view(1, -1, 1)
    j = torch.arange(query_length, device=device).view(1, 1, -1)
    current = (j <= i) | (j < sep.view(-1, 1, 1))
    if past_length:
        visible = torch.ones(current.shape[0], query_length, past_length, dtype=torch.bool)
        current = torch.cat([visible.to(device), current], dim=-1)
    return current.unsqueeze(1)


def normalize_attention_mask(
    attention_mask: torch.Tensor | int,
    batch_size: int,
    query_length: int,
    past_length: int,
    key_mask: torch.Tensor | None,
) -> torch.Tensor | None:
    """Turn a ``sep`` (scalar or ``[b]``) or a full mask into a bool ``[b, 1, L, K]`` or None.

    A full mask may be ``[b, L, K']`` or ``[b, 1, L, K']`` (bool, or 0/1 numbers); its last
    ``M + L`` columns are used. None means "attend everywhere" (an incremental step with no
    padding), which lets the attention kernel skip the mask.
    """
    if not torch.is_tensor(attention_mask):
        attention_mask = torch.tensor(attention_mask)
    if attention_mask.dim() <= 1:
        sep = attention_mask.reshape(-1).long()
        if sep.numel() == 1:
            sep = sep.expand(batch_size)
        if query_length == 1 and key_mask is None:
            return None
        mask = build_attention_mask(sep, query_length, past_length)
    else:
        mask = attention_mask if attention_mask.dim() == 4 else attention_mask.unsqueeze(1)
        mask = mask[..., -(past_length + query_length) :].bool()
    if key_mask is not None:
        keys = key_mask[:, : past_length + query_length].view(batch_size, 1, 1, -1)
        mask = keys if mask is None else mask & keys
    return mask


def attention_with_dropout(
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    mask: torch.Tensor | None,
    dropout_p: float,
) -> torch.Tensor:
    """``softmax(q k^T / sqrt(d))`` masked, dropped out, times ``v`` (SDPA's semantics).

    Compared with SDPA's math path: the mask becomes an additive bias of ``[b, 1, L, K]``
    added in place (nothing to do for it in backward), fully masked rows are looked for on
    that small mask rather than on the scores, the dropout mask is a bool tensor from
    ``keep_mask`` (drawn from the tracked model-parallel stream, as SDPA's would be inside
    ``fork``), and the ``1 / (1 - p)`` scale is applied to the ``[b, n, L, d]`` context rather
    than to the probabilities.
    """
    scores = torch.matmul(query * query.shape[-1] ** -0.5, key.transpose(-1, -2))
    if mask is not None:
        # finfo.min rather than -inf: a fully masked row stays finite (zeroed below)
        bias = torch.zeros(mask.shape, dtype=scores.dtype, device=scores.device)
        scores.add_(bias.masked_fill_(~mask, torch.finfo(scores.dtype).min))
    probs = torch.softmax(scores, dim=-1)
    if mask is not None:
        visible_rows = mask.any(dim=-1, keepdim=True)
        # compiled: no data-dependent branch (a graph break); the fill fuses into the softmax
        if torch.compiler.is_compiling() or not bool(visible_rows.all()):
            probs = probs.masked_fill(~visible_rows, 0.0)  # SDPA gives zeros for such rows
    keep = keep_mask(probs, dropout_p, MODEL_PARALLEL_RNG)
    kept = torch.where(keep, probs, 0.0)
    return torch.matmul(kept, value) * (1.0 / (1.0 - dropout_p))


def fp32_attention_shape(head_dim: int, key_length: int) -> bool:
    """The shapes at which a bf16 / fp16 CPU training step runs SDPA in fp32: for short keys
    or heads narrower than 64, its CPU flash kernel takes 1.1-2.7x longer forward and backward
    in half precision than in fp32, casts included (measured: docs/performance.md). Longer
    sequences with 64-wide heads are faster in bf16 and stay so."""
    return head_dim < 64 or key_length <= 128


def _fp32_on_cpu(query: torch.Tensor, key: torch.Tensor) -> bool:
    """Whether this SDPA call is such a step (inference keeps the half-precision kernel)."""
    return (
        query.device.type == "cpu"
        and query.dtype in (torch.bfloat16, torch.float16)
        and torch.is_grad_enabled()
        and fp32_attention_shape(query.shape[-1], key.shape[-2])
    )


class SelfAttention(nn.Module):
    """Fused QKV (column-parallel, stride 3) -> scaled dot-product attention -> dense (row)."""

    def __init__(self, config: GLMConfig, layer_index: int):
        super().__init__()
        world = get_model_parallel_world_size()
        if config.num_attention_heads % world:
            raise ValueError(
                f"--num-attention-heads {config.num_attention_heads} is not divisible by "
                f"--model-parallel-size {world}"
            )
        self.layer_index = layer_index
        self.heads = config.num_attention_heads // world
        self.head_dim = config.head_dim
        self.dropout_p = config.attention_dropout_prob
        h = config.hidden_size
        self.query_key_value = ColumnParallelLinear(h, 3 * h, stride=3)
        self.dense = RowParallelLinear(h, h, input_is_parallel=True)
        self.output_dropout = Dropout(config.output_dropout_prob)

    def forward(
        self,
        x: torch.Tensor,
        mask: torch.Tensor | None,
        kv_cache: KVCache | None = None,
        rotary: Rotary | None = None,
    ) -> torch.Tensor:
        """``mask`` is the output of ``normalize_attention_mask`` (shared by all layers);
        ``rotary`` the ``rotary_tables`` of the new tokens' positions (rotary models only:
        queries and keys are rotated before the keys enter the cache)."""
        b, length, _ = x.shape
        qkv = self.query_key_value(x)  # (B, L, 3 * H_local * D)
        qkv = qkv.view(b, length, 3, self.heads, self.head_dim).permute(2, 0, 3, 1, 4)
        query, key, value = qkv.unbind(0)  # each (B, H_local, L, D)
        if rotary is not None:
            query, key = apply_rotary(query, rotary), apply_rotary(key, rotary)
        if kv_cache is not None:
            key, value = kv_cache.update(self.layer_index, key, value)
        dropout = self.dropout_p if self.training else 0.0
        if dropout > 0.0 and query.device.type == "cpu":  # its mask comes from the tracked stream
            context = attention_with_dropout(query, key, value, mask, dropout)
        else:
            dtype = query.dtype
            if _fp32_on_cpu(query, key):
                query, key, value = query.float(), key.float(), value.float()
            with get_rng_tracker().fork():
                context = F.scaled_dot_product_attention(
                    query, key, value, attn_mask=mask, dropout_p=dropout
                ).to(dtype)  # (B, H_local, L, D)
        context = context.transpose(1, 2).reshape(b, length, self.heads * self.head_dim)
        return self.output_dropout(self.dense(context))
