"""``--load-pretrained`` for finetuning: pretrained GLM weights into a (possibly wrapped) model.

Only the ``module`` weights are read, into the innermost ``GLMModel`` and non-strictly: heads
and prompt encoders are new, so their keys are absent. When the checkpoint's position tables
have fewer rows than the model's (pretrained at 512, finetuned with a larger
``--max-position-embeddings``), its rows fill the start of the tables and the remaining rows keep
their fresh initialisation. The checkpoint is checked (manifest, shard count, NaN/Inf, head
count) and read one group of tensors at a time. ``init_prompts`` implements ``--prompt-init``.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch
from torch import nn

from checkpoint_io import check_heads, check_state_against_model, open_checkpoint, stream_into_model
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


def _renamed(state: dict, keys: dict[str, str]) -> dict:
    return {keys[key]: value for key, value in state.items()}


def load_pretrained(
    model: nn.Module, path: str | Path, tp_rank: int = 0, tp_world: int = 1, verify: bool = True
) -> tuple[list[str], list[str]]:
    """Load pretrained weights, one group of tensors at a time (the checkpoint is never held
    whole beside the model); returns the (missing, unexpected) GLM keys. ``verify`` checks the
    shard's checksum against the checkpoint's manifest."""
    checkpoint = open_checkpoint(path, [tp_rank], verify, model_parallel_size=tp_world)
    reader = checkpoint.readers[tp_rank]
    prefixed = reader.specs and all(key.startswith("model.") for key in reader.specs)
    keys = {key: key[len("model.") :] if prefixed else key for key in reader.specs}
    glm = inner_glm(model)
    own = glm.state_dict(keep_vars=True)
    shapes = {keys[key]: spec for key, spec in reader.specs.items()}
    for key in POSITION_TABLES:  # shorter tables fill the start of the model's (checked there)
        if key in shapes and key in own and shapes[key].shape[0] < own[key].shape[0]:
            shapes[key] = own[key]
    check_state_against_model(shapes, glm, reader.path, strict=False)
    check_heads(checkpoint, glm)

    def transform(group: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        state = _renamed(group, keys)
        extend_position_tables(state, glm)
        return state

    stream_into_model(glm, reader, transform)
    missing = [key for key in own if key not in shapes]
    unexpected = [key for key in shapes if key not in own]
    if missing:
        logger.info("not in the checkpoint (trained from scratch): %s", missing)
    if unexpected:
        logger.warning("checkpoint keys the model does not use: %s", unexpected)
    return missing, unexpected


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
