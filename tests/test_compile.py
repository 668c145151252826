"""``--compile``: compiled layers give eager's losses, gradients and logits on CPU.

Compiling takes most of these tests' time (about 20 s on 2 cores with a cold inductor cache).
"""

import dataclasses

import pytest
import torch

from model import GLMConfig, GLMModel
from mpu import set_random_seed
from training.arguments import parse_args

TINY = dict(
    num_layers=2, hidden_size=32, num_attention_heads=4, vocab_size=64, max_sequence_length=16
)


def _batch():
    generator = torch.Generator().manual_seed(0)
    tokens = torch.randint(0, 64, (2, 12), generator=generator)
    block = (torch.arange(12) >= 8).long()
    positions = torch.stack([torch.arange(12).clamp(max=7), block.cumsum(0) * block])
    return tokens, positions.expand(2, -1, -1), torch.tensor([8, 6])


def _loss_and_grads(model: GLMModel) -> tuple[torch.Tensor, list[torch.Tensor]]:
    tokens, positions, sep = _batch()
    set_random_seed(5, torch.device("cpu"))  # the same dropout masks in both runs
    logits = model(tokens, positions, sep)
    loss = torch.nn.functional.cross_entropy(logits.flatten(0, 1), tokens.roll(-1, 1).flatten())
    loss.backward()
    return loss.detach(), [p.grad for p in model.parameters()]


def test_flag_reaches_the_model_config():
    args = parse_args(["--compile", "--num-layers", "2"])
    assert args.model_config(128).compile_layers
    assert not parse_args([]).model_config(128).compile_layers


@pytest.mark.slow
def test_compiled_training_step_equals_eager_with_dropout():
    eager = GLMModel(GLMConfig(**TINY), seed=1).train()
    compiled = GLMModel(GLMConfig(**TINY, compile_layers=True), seed=1).train()
    loss, grads = _loss_and_grads(eager)
    compiled_loss, compiled_grads = _loss_and_grads(compiled)
    torch.testing.assert_close(compiled_loss, loss, rtol=1e-5, atol=1e-5)
    for got, want in zip(compiled_grads, grads, strict=True):
        torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-5)
    assert list(compiled.state_dict()) == list(eager.state_dict())  # keys unchanged


def test_compiled_evaluation_and_decoding_equal_eager():
    """The full forward is compiled; passes with a KV cache run eagerly (see TransformerLayer)."""
    config = GLMConfig(**TINY)
    eager = GLMModel(config, seed=1).eval()
    compiled = GLMModel(dataclasses.replace(config, compile_layers=True), seed=1).eval()
    tokens, positions, sep = _batch()
    outputs = []
    for model in (eager, compiled):
        cache = model.make_kv_cache(2, 12)
        with torch.no_grad():
            steps = [model(tokens[:, :8], positions[:, :, :8], 8, kv_cache=cache)]
            for i in range(8, 12):
                step = model(tokens[:, i : i + 1], positions[:, :, i : i + 1], 0, kv_cache=cache)
                steps.append(step)
            outputs.append((model(tokens, positions, sep), torch.cat(steps, 1)))
    for got, want in zip(outputs[1], outputs[0], strict=True):
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
