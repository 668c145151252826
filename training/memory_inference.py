"""Memory of GLM generation per GPU: the weights, the KV cache and the working set.

The KV cache (``model/kv_cache.py``) preallocates, for every layer, a key and a value buffer
``[rows, heads/p, context + generated, head_dim]`` in the model's dtype, i.e.
``2 * L * rows * (context + generated) * h/p * e`` bytes, where ``rows`` is the batch times
``--num-beams`` (beam search expands each row into its beams). ``KVCache.reorder`` (beam
re-ranking) builds the reordered buffers of every layer before it drops the old ones, so beam
search briefly holds the cache twice.

The working set is the larger of the prefill and a decoding step. Prefill runs the transformer
over the context without gradients and without the vocabulary projection: per layer at most
the residual input, the LayerNorm output and either the MLP's two ``b*s*f/p`` intermediates or
the attention's QKV, context and the additive mask (``b*s*s`` values, built per layer from the
shared boolean one). A decoding step computes fp32 logits over the whole vocabulary for every
row (gathered from the tensor-parallel ranks).
"""

from __future__ import annotations

from dataclasses import dataclass

from model.config import GLMConfig
from training.memory_plan import PRECISION_BYTES, Estimate, Term
from training.memory_shapes import parameter_count


@dataclass(frozen=True)
class InferenceSetup:
    tp: int = 1
    precision: str = "fp32"
    batch: int = 1
    context_length: int = 512
    generated: int = 256  # --out-seq-length: tokens generated per blank
    num_beams: int = 1

    @property
    def bytes_per_value(self) -> int:
        return PRECISION_BYTES[self.precision]


def kv_cache_bytes(config: GLMConfig, setup: InferenceSetup) -> int:
    rows = setup.batch * setup.num_beams
    length = setup.context_length + setup.generated
    hidden_local = config.hidden_size // setup.tp
    return 2 * config.num_layers * rows * length * hidden_local * setup.bytes_per_value


def prefill_bytes(config: GLMConfig, setup: InferenceSetup) -> int:
    """The largest set of tensors alive while one layer encodes the context."""
    b, s, e, p = setup.batch, setup.context_length, setup.bytes_per_value, setup.tp
    h = config.hidden_size
    attention = (4 * h // p + s) * e + s  # QKV and context, the additive and boolean masks
    mlp = 2 * config.ffn_size // p * e
    return b * s * (3 * h * e + max(attention, mlp))


def decode_bytes(config: GLMConfig, setup: InferenceSetup) -> int:
    """One decoding step: fp32 logits over the full vocabulary, plus the local shard."""
    rows, vocab = setup.batch * setup.num_beams, config.vocab_size
    return rows * (4 * vocab + setup.bytes_per_value * vocab // setup.tp)


def estimate_inference(config: GLMConfig, setup: InferenceSetup) -> Estimate:
    e, count = setup.bytes_per_value, parameter_count(config, setup.tp)
    cache = kv_cache_bytes(config, setup)
    rows = setup.batch * setup.num_beams
    beams = f" ({setup.batch} x {setup.num_beams} beams)" if setup.num_beams > 1 else ""
    length = f"({setup.context_length} + {setup.generated}) positions"
    terms = [
        Term("weights", e * count, note=f"{setup.precision}, {count / 1e9:.2f} G values"),
        Term("KV cache", cache, note=f"{rows} rows{beams} x {length}"),
        Term("prefill working set", prefill_bytes(config, setup), "activations", "per layer"),
        Term("decoding step", decode_bytes(config, setup), "activations", "fp32 logits"),
    ]
    if setup.num_beams > 1:
        terms.append(Term("beam reorder copy", cache, "activations", "the cache, once more"))
    working = max(t.bytes for t in terms if t.kind == "activations")
    moments = {"generation": e * count + cache + working}
    return Estimate(tuple(terms), moments["generation"], 0, moments)
