"""GLMModel on its own: the mask, the KV cache, activation checkpointing, prompts, heads."""

import pytest
import torch

from model import GLMConfig, GLMModel
from model.attention import build_attention_mask
from model.heads import (
    GLMForMultiTokenCloze,
    GLMForSequenceClassification,
    GLMForSingleTokenCloze,
)
from mpu.random import model_parallel_seed

SMALL = dict(
    num_layers=3, hidden_size=32, num_attention_heads=4, vocab_size=128, max_sequence_length=64
)


def _inputs(batch=2, length=10, seed=0):
    generator = torch.Generator().manual_seed(seed)
    tokens = torch.randint(0, 128, (batch, length), generator=generator)
    positions = torch.stack(
        [
            torch.arange(length).expand(batch, -1),
            torch.randint(0, 5, (batch, length), generator=generator),
        ],
        1,
    )
    return tokens, positions


def test_mask_is_prefix_bidirectional_then_causal():
    mask = build_attention_mask(torch.tensor([3]), 6, past_length=2)[0, 0].int()
    expected = torch.tensor(
        [
            [1, 1, 1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 1, 0, 0, 0],
            [1, 1, 1, 1, 1, 1, 0, 0],
            [1, 1, 1, 1, 1, 1, 1, 0],
            [1, 1, 1, 1, 1, 1, 1, 1],
        ]
    )
    assert torch.equal(mask, expected)


def test_state_dict_keys_and_shapes_follow_glm_layout():
    model = GLMModel(GLMConfig(**SMALL))
    shapes = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    assert shapes["word_embeddings.weight"] == (128, 32)
    assert shapes["transformer.position_embeddings.weight"] == (65, 32)
    assert shapes["transformer.block_position_embeddings.weight"] == (65, 32)
    assert shapes["transformer.layers.2.attention.query_key_value.weight"] == (96, 32)
    assert shapes["transformer.layers.0.mlp.dense_4h_to_h.weight"] == (32, 128)
    assert len(shapes) == 3 + 12 * 3 + 2
    no_block = GLMModel(GLMConfig(**SMALL, block_position_encoding=False)).state_dict()
    assert tuple(no_block["transformer.position_embeddings.weight"].shape) == (64, 32)
    assert "transformer.block_position_embeddings.weight" not in no_block


def test_init_scales_output_projections():
    model = GLMModel(GLMConfig(**{**SMALL, "hidden_size": 256, "num_layers": 8}), seed=3)
    state = model.state_dict()
    assert state["transformer.layers.0.attention.query_key_value.weight"].std() == pytest.approx(
        0.02, rel=0.05
    )
    assert state["transformer.layers.0.attention.dense.weight"].std() == pytest.approx(
        0.005, rel=0.05
    )
    assert torch.equal(state["transformer.layers.0.attention.dense.bias"], torch.zeros(256))
    assert torch.equal(state["transformer.final_layernorm.weight"], torch.ones(256))


@pytest.mark.parametrize("sep", [0, 4, 10])
def test_kv_cache_decoding_equals_full_forward(sep):
    model = GLMModel(GLMConfig(**SMALL)).eval()
    tokens, positions = _inputs(length=12)
    full = model(tokens, positions, torch.tensor([sep, sep]))
    context = max(sep, 1)
    cache = model.make_kv_cache(2, 12)
    with torch.no_grad():
        steps = [model(tokens[:, :context], positions[:, :, :context], sep, kv_cache=cache)]
        for i in range(context, 12):
            steps.append(model(tokens[:, i : i + 1], positions[:, :, i : i + 1], 0, kv_cache=cache))
    assert torch.allclose(torch.cat(steps, 1), full, atol=1e-5)


def test_key_mask_hides_padding():
    """A left-padded row gives the same logits as the unpadded text alone."""
    model = GLMModel(GLMConfig(**SMALL)).eval()
    tokens, positions = _inputs(batch=1, length=6)
    alone = model(tokens, positions, 6)
    padded_tokens = torch.cat([torch.zeros(1, 3, dtype=torch.long), tokens], 1)
    padded_positions = torch.cat([torch.zeros(1, 2, 3, dtype=torch.long), positions], 2)
    cache = model.make_kv_cache(1, 9)
    cache.set_key_mask(torch.tensor([[False] * 3 + [True] * 6]))
    with torch.no_grad():
        padded = model(padded_tokens, padded_positions, 9, kv_cache=cache)
    assert torch.allclose(padded[:, 3:], alone, atol=1e-5)


def test_full_mask_equals_sep():
    model = GLMModel(GLMConfig(**SMALL)).eval()
    tokens, positions = _inputs()
    sep = torch.tensor([3, 7])
    full_mask = build_attention_mask(sep, 10)[:, 0]
    assert torch.allclose(
        model(tokens, positions, sep), model(tokens, positions, full_mask), atol=1e-6
    )


def test_activation_checkpointing_gives_same_gradients_with_dropout():
    tokens, positions = _inputs()
    grads = []
    for checkpointing in (False, True):
        config = GLMConfig(**SMALL, checkpoint_activations=checkpointing, checkpoint_num_layers=2)
        model = GLMModel(config, seed=5).train()
        model_parallel_seed(11)  # the default and the tracked stream: attention dropout uses both
        model(tokens, positions, torch.tensor([4, 6])).float().pow(2).mean().backward()
        grads.append(torch.cat([p.grad.flatten() for p in model.parameters()]))
    assert torch.allclose(grads[0], grads[1], atol=1e-6)


@pytest.mark.parametrize("spell_func", ["lstm", "mlp", "none"])
def test_prompt_positions_take_encoder_output(spell_func):
    model = GLMModel(GLMConfig(**SMALL, spell_length=3, spell_func=spell_func)).eval()
    assert any(k.startswith("prompt_spell.spell_embeddings") for k in model.state_dict())
    tokens, positions = _inputs()
    prompt_pos = torch.tensor([[1, 2, 3], [4, 5, 6]])
    with_prompts = model(tokens, positions, 10, prompt_pos=prompt_pos)
    changed = tokens.clone()
    changed[0, 1] = (changed[0, 1] + 1) % 128
    assert torch.allclose(
        with_prompts, model(changed, positions, 10, prompt_pos=prompt_pos), atol=1e-6
    )


def test_multi_token_cloze_scores_are_summed_log_probs():
    model = GLMModel(GLMConfig(**SMALL)).eval()
    head = GLMForMultiTokenCloze(model, length_penalty=1.0)
    tokens, positions = _inputs(batch=2)
    targets = torch.randint(0, 128, (2, 10))
    mask = torch.zeros(2, 10)
    mask[:, 6:9] = 1
    scores = head(
        tokens.view(1, 2, 10),
        positions.view(1, 2, 2, 10),
        torch.tensor([[6, 6]]),
        targets.view(1, 2, 10),
        mask.view(1, 2, 10),
    )
    logp = torch.log_softmax(model(tokens, positions, 6), -1)
    expected = (logp.gather(-1, targets.unsqueeze(-1)).squeeze(-1) * mask).sum(-1) / 3
    assert scores.shape == (1, 2)
    assert torch.allclose(scores[0], expected, atol=1e-5)
    assert set(head.state_dict()) == set(model.state_dict())


def test_single_token_cloze_reads_logits_at_sep():
    model = GLMModel(GLMConfig(**SMALL)).eval()
    tokens, positions = _inputs()
    sep = torch.tensor([4, 7])
    labels = torch.tensor([[5, 9], [1, 2]])
    scores, logits_at_sep = GLMForSingleTokenCloze(model)(tokens, positions, sep, labels)
    logits = model(tokens, positions, sep)
    assert torch.allclose(scores[1], logits[1, 7, [1, 2]])
    assert torch.allclose(logits_at_sep[0], logits[0, 4])


def test_sequence_classification_pools_and_keeps_model_prefix():
    model = GLMModel(GLMConfig(**SMALL, output_predict=False))
    head = GLMForSequenceClassification(model, 32, 0.0, pool_token="start", num_class=3).eval()
    tokens, positions = _inputs()
    assert head(tokens, positions, torch.tensor([3, 5])).shape == (2, 3)
    keys = head.state_dict().keys()
    assert "model.word_embeddings.weight" in keys and "multichoice_head.weight" in keys
    with pytest.raises(ValueError, match="output_predict"):
        GLMForSequenceClassification(GLMModel(GLMConfig(**SMALL)), 32, 0.1)


def test_decoding_layout_keeps_values_and_logits():
    model = GLMModel(GLMConfig(**SMALL)).eval()
    tokens, positions = _inputs()
    before = model(tokens, positions, 4)
    state = {k: v.clone() for k, v in model.state_dict().items()}
    model.use_decoding_layout()
    qkv = model.transformer.layers[0].attention.query_key_value.weight
    assert not qkv.is_contiguous() and qkv.t().is_contiguous()
    assert all(torch.equal(state[k], v) for k, v in model.state_dict().items())
    assert torch.allclose(model(tokens, positions, 4), before, atol=1e-5)


def test_output_positions_select_logit_rows():
    model = GLMModel(GLMConfig(**SMALL)).eval()
    tokens, positions = _inputs()
    chosen = torch.zeros(2, 10, dtype=torch.bool)
    chosen[0, 7:] = chosen[1, 2] = True
    full = model(tokens, positions, 5)
    assert torch.allclose(
        model(tokens, positions, 5, output_positions=chosen), full[chosen], atol=1e-6
    )


@pytest.mark.parametrize("grad", [True, False], ids=["training", "inference"])
def test_cpu_half_precision_attention_runs_in_fp32_only_where_faster(grad, monkeypatch):
    """bf16 training on CPU at short sequences / narrow heads computes attention in fp32 and
    casts back (the bf16 CPU kernel is slower there); inference keeps the bf16 kernel."""
    from model.attention import SelfAttention

    torch.manual_seed(0)
    config = GLMConfig(num_layers=1, vocab_size=64, hidden_size=64, num_attention_heads=2)
    attention = SelfAttention(config, 0).to(torch.bfloat16).eval()
    x = torch.randn(2, 12, 64, dtype=torch.bfloat16)
    mask = build_attention_mask(torch.tensor([5, 9]), 12)
    seen = []
    real = torch.nn.functional.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        seen.append(q.dtype)
        return real(q, k, v, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "scaled_dot_product_attention", spy)
    with torch.set_grad_enabled(grad):
        out = attention(x, mask)
    assert seen == [torch.float32 if grad else torch.bfloat16]
    assert out.dtype == torch.bfloat16
    if grad:
        out.float().sum().backward()
        assert attention.query_key_value.weight.grad.dtype == torch.bfloat16
