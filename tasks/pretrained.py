"""``--load-pretrained`` for finetuning: pretrained GLM weights into a (possibly wrapped) model.

Only the ``module`` weights are read, into the innermost ``GLMModel`` and non-strictly: heads
and prompt encoders are new, so their keys are absent. When the checkpoint's position tables
have fewer rows than the model's (pretrained at 512, finetuned with a larger
``--max-position-embeddings``), its rows fill the start of the tables and the remaining rows keep
their fresh initialisation. ``init_prompts`` implements ``--prompt-init``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from checkpoint_io import check_state_against_model, read_model_shard
from model import GLMModel
from mpu import gather_from_model_parallel_region

logger = logging.getLogger(__name__)
POSITION_TABLES = (
    "transformer.position_embeddings.weight",
    "transformer.block_position_embeddings.weight",
)


def inner_glm(model: nn.Module) -> GLMModel:
    """The GLMModel inside a head (or the model itself)."""
    while not isinstance(model, GLMModel):
        if not hasattr(model, "model"):
            raise TypeError(f"{type(model).__name__} holds no GLMModel")
        model = model.model
    return model


def extend_position_tables(state: dict[str, torch.Tensor], glm: GLMModel) -> None:
    """Pad shorter checkpoint position tables with the model's own (freshly initialised) rows."""
    own = glm.state_dict()
    for key in POSITION_TABLES:
        if key in state and key in own and state[key].shape[0] < own[key].shape[0]:
            rows = state[key].shape[0]
            logger.info("extending %s from %d to %d rows", key, rows, own[key].shape[0])
            table = own[key].clone()
            table[:rows] = state[key].to(table.dtype)
            state[key] = table


def load_pretrained(
    model: nn.Module, path: str | Path, tp_rank: int = 0, tp_world: int = 1
) -> tuple[list[str], list[str]]:
    """Load pretrained weights; returns the (missing, unexpected) GLM keys."""
    state, _, shard = read_model_shard(path, tp_rank, tp_world)
    state = dict(state)
    if state and all(key.startswith("model.") for key in state):
        state = {key[len("model.") :]: value for key, value in state.items()}
    glm = inner_glm(model)
    extend_position_tables(state, glm)
    check_state_against_model(state, glm, shard, strict=False)
    result = glm.load_state_dict(state, strict=False)
    if result.missing_keys:
        logger.info("not in the checkpoint (trained from scratch): %s", result.missing_keys)
    if result.unexpected_keys:
        logger.warning("checkpoint keys the model does not use: %s", result.unexpected_keys)
    return list(result.missing_keys), list(result.unexpected_keys)


@torch.no_grad()
def init_prompts(model: nn.Module, task_tokens: list[int] | None, seed: int) -> None:
    """``--prompt-init``: start the prompt vectors from word embeddings. The generator is seeded
    alike on every rank and the vocabulary-sharded table is gathered, so tensor-parallel ranks
    (which replicate the prompt encoder) stay identical."""
    glm = inner_glm(model)
    if not hasattr(glm, "prompt_spell"):
        raise ValueError("--prompt-init needs continuous prompts: add --continuous-prompt")
    weight = glm.word_embeddings.weight
    table = gather_from_model_parallel_region(weight.t().contiguous()).t()  # (V, h)
    generator = torch.Generator().manual_seed(seed)
    glm.prompt_spell.init_embedding(table, task_tokens, generator=generator)
