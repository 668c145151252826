"""Helpers to read the reference fixtures (outputs of the original GLM on tiny checkpoints)."""

import json
from functools import cache
from pathlib import Path

import numpy as np
import torch

from model import GLMConfig, GLMModel

VARIANTS = {"gpt2": 50304, "bert": 30592}  # padded vocabulary of each fixture model


def tiny_config(variant: str, **overrides) -> GLMConfig:
    fields = dict(
        num_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        max_sequence_length=256,
        vocab_size=VARIANTS[variant],
    )
    fields.update(overrides)
    return GLMConfig(**fields)


@cache
def generation_cases(reference_dir: Path, variant: str) -> list[dict]:
    return json.loads((reference_dir / variant / "generation" / "cases.json").read_text())["cases"]


def case_array(reference_dir: Path, variant: str, case: int, name: str) -> np.ndarray:
    return np.load(reference_dir / variant / "generation" / f"case{case:02d}_{name}.npy")


def model_input(case: dict) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    given = case["model_input"]
    return (
        torch.tensor(given["tokens"]),
        torch.tensor(given["position_ids"]),
        torch.tensor(given["attention_mask"]),
    )


def load_tiny_model(reference_dir: Path, variant: str, checkpoint: str, **overrides) -> GLMModel:
    """The fixture model in eval mode; ``checkpoint`` is a folder name under checkpoints/."""
    from checkpoint_io import load_model_checkpoint
    from mpu import get_model_parallel_rank, get_model_parallel_world_size

    model = GLMModel(tiny_config(variant, **overrides), seed=None).eval()
    load_model_checkpoint(
        model,
        reference_dir / "checkpoints" / checkpoint,
        tp_rank=get_model_parallel_rank(),
        tp_world=get_model_parallel_world_size(),
    )
    return model


def replay_steps(model: GLMModel, case: dict) -> torch.Tensor:
    """Run the context, then every recorded incremental step through the KV cache.

    Returns the logits of each step ``[steps, V]`` in recording order (blanks left to right).
    """
    tokens, positions, sep = model_input(case)
    steps = [step for blank in case["blanks"] for step in blank["steps"]]
    cache = model.make_kv_cache(1, tokens.shape[1] + len(steps))
    rows = []
    with torch.no_grad():
        model(tokens, positions, sep, kv_cache=cache)
        for step in steps:
            assert cache.length == step["mem_len"]
            token = torch.tensor([[step["input_id"]]])
            position = torch.tensor(step["position_ids"]).view(1, 2, 1)
            rows.append(model(token, position, 0, kv_cache=cache)[0, -1])
    return torch.stack(rows)
