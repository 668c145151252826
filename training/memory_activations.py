"""Bytes of activations a GLM training step keeps for backward, per tensor-parallel rank.

Notation: ``b`` micro-batch, ``s`` sequence length, ``h`` hidden size, ``f`` MLP width (4h),
``a`` attention heads, ``p`` tensor-parallel size, ``e`` bytes of the compute dtype (2 for
bf16/fp16, 4 for fp32), ``N = b * s * scored_fraction`` positions whose logits are computed
(``lm_forward_step`` projects only the Part-B positions onto the vocabulary).

One transformer layer saves (``model/transformer.py``, ``model/attention.py``):

- ``4 * b*s*h * e``: the inputs and outputs of both LayerNorms (replicated across ranks);
- ``(3h + h + 2f) / p * b*s * e``: the fused QKV output (which q, k and v view), the attention
  output (the input of the output projection: a view, no copy), the ``h -> 4h`` output (the
  GeLU input) and the GeLU output (the ``4h -> h`` input);
- ``b * s**2 * e``: the additive mask that scaled-dot-product attention builds from GLM's
  boolean Part A / Part B mask in every layer; plus the log-sum-exp ``b * a/p * s * 4`` and the
  LayerNorm statistics (``4 * b*s`` values, fp32 on GPU, the compute dtype on CPU);
- with ``--hidden-dropout > 0`` two bool dropout masks ``b*s*h`` (1 byte each);
- on CPU with ``--attention-dropout > 0`` attention runs ``model.attention.attention_with_dropout``:
  the scaled q, k and v (``3 * b*s*h/p * e``), the probabilities, the bool keep mask and the kept
  probabilities (``b * a/p * s**2 * (2e + 1)``) instead of the QKV output and the mask. GPUs use
  the memory-efficient kernel (it regenerates the dropout mask);
- on CPU in bf16 / fp16 without attention dropout, at the shapes where attention runs in fp32
  (``model.attention.fp32_attention_shape``): q, k, v, the mask and the attention output are
  kept in fp32 (``(4h/p * b*s + b * s**2) * 4``) instead of the QKV output and the mask.

Around the stack: the final LayerNorm input ``b*s*h * e``, the hidden states at the scored
positions ``N*h * e`` and the vocab-parallel logits and loss. At the start of backward the loss
holds ``12 * N * V/p`` bytes at ``p = 1`` (fp32 log-softmax output, its gradient and the
gradient of the logits) and ``(e + 4[e=2] + 8) * N * V/p`` bytes at ``p > 1`` (the logits, their
fp32 copy, the shifted logits and the softmax that ``mpu.cross_entropy`` saves).

With ``--checkpoint-activations`` only each chunk's input (``b*s*h * e`` per chunk of
``--checkpoint-num-layers`` layers) is kept; backward recomputes one chunk at a time, whose
full activations then live beside the chunk inputs; the loss peak comes before that.
``tests/test_memory_plan.py`` compares the per-layer count with the tensors autograd saves.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from model.attention import fp32_attention_shape
from model.config import GLMConfig


@dataclass(frozen=True)
class ActivationSetup:
    micro_batch: int
    seq_length: int
    tp: int = 1
    bytes_per_value: int = 2  # e: the compute dtype
    scored_fraction: float = 1.0  # share of positions whose logits are computed
    on_cpu: bool = False  # CPU kernels (attention_with_dropout when attention dropout is on)

    @property
    def scored_positions(self) -> int:
        return math.ceil(self.micro_batch * self.seq_length * self.scored_fraction)


def layer_activation_bytes(config: GLMConfig, run: ActivationSetup) -> int:
    """What one transformer layer keeps for backward (see the module docstring)."""
    b, s, h, p, e = run.micro_batch, run.seq_length, config.hidden_size, run.tp, run.bytes_per_value
    heads = config.num_attention_heads // p
    tokens = b * s
    total = 4 * tokens * h * e + (h + 2 * config.ffn_size) * tokens // p * e
    total += 4 * tokens * (e if run.on_cpu else 4)  # LayerNorm mean and rstd
    if run.on_cpu and config.attention_dropout_prob > 0:
        # model.attention.attention_with_dropout: scaled q, k, v; probabilities, the bool keep
        # mask and the kept probabilities
        total += 3 * tokens * h // p * e + b * heads * s * s * (2 * e + 1)
    elif run.on_cpu and e < 4 and fp32_attention_shape(config.head_dim, s):
        # half precision on CPU at these shapes: SDPA runs on fp32 copies of q, k and v, so it
        # keeps them, an fp32 mask and its fp32 output beside the cast-back context
        total += 3 * h * tokens // p * 4 + b * s * s * 4 + b * heads * s * 4
        total += h * tokens // p * 4
    else:
        total += 3 * h * tokens // p * e + b * s * s * e + b * heads * s * 4
    if config.output_dropout_prob > 0:
        total += 2 * tokens * h  # bool masks (model.dropout on CPU, F.dropout elsewhere)
    return total


def loss_bytes(config: GLMConfig, run: ActivationSetup) -> int:
    """The logits and cross-entropy tensors alive at the start of backward."""
    n, e, vocab = run.scored_positions, run.bytes_per_value, config.vocab_size // run.tp
    per_logit = 12 if run.tp == 1 else e + (4 if e == 2 else 0) + 8
    return n * vocab * per_logit


def head_bytes(config: GLMConfig, run: ActivationSetup) -> int:
    """Final LayerNorm input, the scored hidden states and the embedding dropout mask."""
    h, e = config.hidden_size, run.bytes_per_value
    tokens = run.micro_batch * run.seq_length
    total = tokens * h * e + run.scored_positions * h * e
    if config.embedding_dropout_prob > 0:
        total += tokens * h  # a bool mask
    return total


def activation_bytes(config: GLMConfig, run: ActivationSetup, checkpoint: bool) -> int:
    """Peak bytes of activations (with the loss) during one micro-batch's backward."""
    layer = layer_activation_bytes(config, run)
    fixed = head_bytes(config, run)
    if not checkpoint:
        return config.num_layers * layer + fixed + loss_bytes(config, run)
    chunk = config.checkpoint_num_layers
    chunks = math.ceil(config.num_layers / chunk)
    inputs = chunks * run.micro_batch * run.seq_length * config.hidden_size * run.bytes_per_value
    return inputs + fixed + max(loss_bytes(config, run), min(chunk, config.num_layers) * layer)
