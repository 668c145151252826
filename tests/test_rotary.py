"""--position-encoding rotary: relative by construction, cache-consistent, and kept apart from
GLM's checkpoint layout (no position tables)."""

import pytest
import torch

from checkpoint_io import CheckpointError
from checkpoint_io.state import check_state_against_model
from interop.hf_layout import model_fields
from model import GLMConfig, GLMModel
from model.rotary import apply_rotary, rotary_tables
from mpu.random import model_parallel_seed
from training.arguments import parse_args

SMALL = dict(num_layers=2, hidden_size=32, num_attention_heads=2, vocab_size=128)


def _model(**overrides) -> GLMModel:
    config = GLMConfig(**{**SMALL, "position_encoding": "rotary", **overrides})
    return GLMModel(config, seed=3).eval()


def _blank_inputs():
    """Part A of 7 tokens with a mask at 3, then a 3-token span: positions 3, block 1..3."""
    tokens = torch.randint(0, 128, (1, 10), generator=torch.Generator().manual_seed(0))
    positions = torch.tensor([[[0, 1, 2, 3, 4, 5, 6, 3, 3, 3], [0] * 7 + [1, 2, 3]]])
    return tokens, positions, torch.tensor([7])


def test_rotary_model_has_no_position_tables():
    keys = _model().state_dict()
    assert not [k for k in keys if "position_embeddings" in k]
    with pytest.raises(ValueError, match="divisible by 4"):
        GLMConfig(
            **{**SMALL, "hidden_size": 24, "num_attention_heads": 4}, position_encoding="rotary"
        )


def test_rotation_keeps_norms_and_turns_pairs_by_position():
    x = torch.randn(2, 3, 5, 16)
    positions = torch.randint(0, 50, (2, 2, 5))
    rotated = apply_rotary(x, rotary_tables(positions, 16, torch.float32))
    torch.testing.assert_close(rotated.norm(dim=-1), x.norm(dim=-1))
    at_zero = apply_rotary(x, rotary_tables(torch.zeros_like(positions), 16, torch.float32))
    torch.testing.assert_close(at_zero, x)


@torch.no_grad()
def test_only_distances_matter():
    model = _model()
    tokens, positions, sep = _blank_inputs()
    logits = model(tokens, positions, sep)
    for shift in ([11, 0], [0, 4], [5, 2]):
        moved = positions + torch.tensor(shift).view(1, 2, 1)
        torch.testing.assert_close(model(tokens, moved, sep), logits, atol=1e-5, rtol=1e-5)
    swapped = positions.clone()
    swapped[0, 0, [1, 5]] = swapped[0, 0, [5, 1]]  # two Part A tokens trade places
    assert not torch.allclose(model(tokens, swapped, sep), logits, atol=1e-4)


@torch.no_grad()
def test_kv_cache_steps_equal_the_full_pass():
    model = _model()
    tokens, positions, sep = _blank_inputs()
    full = model(tokens, positions, sep)
    cache = model.make_kv_cache(1, 10)
    prefix = model(tokens[:, :7], positions[:, :, :7], sep, kv_cache=cache)
    steps = [
        model(tokens[:, t : t + 1], positions[:, :, t : t + 1], 0, kv_cache=cache)
        for t in range(7, 10)
    ]
    torch.testing.assert_close(prefix, full[:, :7], atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(torch.cat(steps, 1), full[:, 7:], atol=1e-5, rtol=1e-5)


def test_one_dimensional_positions_rotate_the_whole_head():
    model = _model(block_position_encoding=False)
    tokens = torch.randint(0, 128, (2, 6))
    positions = torch.arange(6).expand(2, 6)
    with torch.no_grad():
        logits = model(tokens, positions, 6)
        torch.testing.assert_close(model(tokens, positions + 9, 6), logits, atol=1e-5, rtol=1e-5)


def test_activation_checkpointing_gives_the_same_gradients():
    torch.manual_seed(0)
    tokens, positions, sep = _blank_inputs()
    grads = []
    for checkpoint in (False, True):
        model = _model(checkpoint_activations=checkpoint).train()
        model_parallel_seed(11)  # the same dropout masks in both runs
        model(tokens, positions, sep).float().pow(2).mean().backward()
        grads.append(model.transformer.layers[0].attention.query_key_value.weight.grad)
    torch.testing.assert_close(grads[0], grads[1], atol=1e-6, rtol=1e-5)


def test_a_checkpoint_of_the_other_encoding_names_the_flag(tmp_path):
    rotary = _model().state_dict()
    absolute = GLMModel(GLMConfig(**SMALL), seed=3)
    with pytest.raises(CheckpointError, match="check --position-encoding"):
        check_state_against_model(rotary, absolute, tmp_path)
    with pytest.raises(CheckpointError, match="check --position-encoding"):
        check_state_against_model(absolute.state_dict(), _model(), tmp_path)


def test_hugging_face_export_refuses_a_rotary_model():
    with pytest.raises(CheckpointError, match="rotary"):
        model_fields(_model().state_dict(), 2)


def test_flag_reaches_the_model_config():
    args = parse_args(["--block-lm", "--position-encoding", "rotary"])
    assert args.model_config(128).position_encoding == "rotary"
    assert parse_args([]).model_config(128).position_encoding == "absolute"
