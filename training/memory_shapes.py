"""The parameters of a GLM model per tensor-parallel rank, from its config alone.

``parameter_shapes(config, tp)`` lists every parameter of ``GLMModel(config)`` on one rank of a
``tp``-way tensor-parallel group, with its state-dict name and shape, in the model's order; it
is what ``GLMModel`` builds (``tests/test_memory_plan.py`` compares the two on the meta device
for every shipped config). The word embedding and the column-parallel projections (QKV,
``h -> 4h``) are split along their rows, the row-parallel ones (attention output, ``4h -> h``)
along their columns; position tables, LayerNorms, row-parallel biases and the P-tuning prompt
encoder are replicated. Nothing here allocates a tensor.
"""

from __future__ import annotations

from collections.abc import Iterator

from model.config import GLMConfig

Shapes = dict[str, tuple[int, ...]]


def _split(size: int, tp: int, what: str) -> int:
    if size % tp:
        raise ValueError(f"{what} {size} is not divisible by the tensor-parallel size {tp}")
    return size // tp


def _layer(prefix: str, h: int, ffn: int, tp: int) -> Iterator[tuple[str, tuple[int, ...]]]:
    qkv, ffn_local = _split(3 * h, tp, "3 x --hidden-size"), _split(ffn, tp, "the MLP width")
    yield f"{prefix}.input_layernorm.weight", (h,)
    yield f"{prefix}.input_layernorm.bias", (h,)
    yield f"{prefix}.attention.query_key_value.weight", (qkv, h)
    yield f"{prefix}.attention.query_key_value.bias", (qkv,)
    yield f"{prefix}.attention.dense.weight", (h, _split(h, tp, "--hidden-size"))
    yield f"{prefix}.attention.dense.bias", (h,)
    yield f"{prefix}.post_attention_layernorm.weight", (h,)
    yield f"{prefix}.post_attention_layernorm.bias", (h,)
    yield f"{prefix}.mlp.dense_h_to_4h.weight", (ffn_local, h)
    yield f"{prefix}.mlp.dense_h_to_4h.bias", (ffn_local,)
    yield f"{prefix}.mlp.dense_4h_to_h.weight", (h, ffn_local)
    yield f"{prefix}.mlp.dense_4h_to_h.bias", (h,)


def _prompt_encoder(length: int, h: int, func: str) -> Iterator[tuple[str, tuple[int, ...]]]:
    """``PromptSpell``: the prompt vectors, then a 2-layer bidirectional LSTM and an MLP."""
    yield "prompt_spell.spell_embeddings.weight", (length, h)
    if func == "lstm":
        for layer in range(2):
            inputs = h if layer == 0 else 2 * h
            for suffix in ("", "_reverse"):
                yield f"prompt_spell.lstm_head.weight_ih_l{layer}{suffix}", (4 * h, inputs)
                yield f"prompt_spell.lstm_head.weight_hh_l{layer}{suffix}", (4 * h, h)
                yield f"prompt_spell.lstm_head.bias_ih_l{layer}{suffix}", (4 * h,)
                yield f"prompt_spell.lstm_head.bias_hh_l{layer}{suffix}", (4 * h,)
    if func in ("lstm", "mlp"):
        yield "prompt_spell.mlp_head.0.weight", (h, 2 * h if func == "lstm" else h)
        yield "prompt_spell.mlp_head.0.bias", (h,)
        yield "prompt_spell.mlp_head.2.weight", (h, h)
        yield "prompt_spell.mlp_head.2.bias", (h,)


def parameter_shapes(config: GLMConfig, tp: int = 1) -> Shapes:
    """``{state-dict name: shape}`` of one tensor-parallel rank, in ``GLMModel`` order."""
    if config.num_attention_heads % tp:
        raise ValueError(
            f"--num-attention-heads {config.num_attention_heads} is not divisible by "
            f"--model-parallel-size {tp}"
        )
    h, rows = config.hidden_size, config.position_table_rows
    vocab = _split(config.vocab_size, tp, "the padded vocabulary size")
    shapes: Shapes = {"word_embeddings.weight": (vocab, h)}
    if not config.rotary:
        shapes["transformer.position_embeddings.weight"] = (rows, h)
        if config.block_position_encoding:
            shapes["transformer.block_position_embeddings.weight"] = (rows, h)
    for i in range(config.num_layers):
        shapes.update(_layer(f"transformer.layers.{i}", h, config.ffn_size, tp))
    shapes["transformer.final_layernorm.weight"] = (h,)
    shapes["transformer.final_layernorm.bias"] = (h,)
    if config.spell_length:
        shapes.update(_prompt_encoder(config.spell_length, h, config.spell_func))
    return shapes


def numel(shape: tuple[int, ...]) -> int:
    count = 1
    for size in shape:
        count *= size
    return count


def parameter_count(config: GLMConfig, tp: int = 1) -> int:
    """Parameters held by one tensor-parallel rank (the whole model at ``tp = 1``)."""
    return sum(numel(shape) for shape in parameter_shapes(config, tp).values())


def layer_parameter_count(config: GLMConfig, tp: int = 1) -> int:
    """Parameters of one transformer layer on one rank (what ZeRO-3 gathers at a time)."""
    h = config.hidden_size
    return sum(numel(shape) for _, shape in _layer("layer", h, config.ffn_size, tp))
