"""Checkpoint weights against a model: shape checks, loading, and ZeRO-3 gathering.

Every mismatch between a checkpoint and the model is reported in one line that names the key
or file and the flag to check, never as a shape traceback. Tensors are cast to the model's dtype
on copy.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from checkpoint_io.files import extract_module_state, load_checkpoint_file
from checkpoint_io.layout import CheckpointError, locate_checkpoint

_KEY_HINTS = (
    (
        "word_embeddings",
        "the tokenizer flags (--tokenizer-type, --task-mask, ...) and "
        "--make-vocab-size-divisible-by, which set the padded vocabulary",
    ),
    ("position_embeddings", "--max-position-embeddings"),
    ("", "--hidden-size and --num-attention-heads"),
)


def _hint(key: str) -> str:
    return next(hint for part, hint in _KEY_HINTS if part in key)


def _whole_shape(tensor: torch.Tensor) -> tuple[int, ...]:
    """A tensor's shape; for a parameter ZeRO-3 has partitioned, the shape of the whole."""
    return tuple(getattr(tensor, "ds_shape", tensor.shape))


def _zero3_tensors(model: nn.Module) -> dict[str, torch.Tensor] | None:
    """``model``'s state tensors themselves (not copies) if ZeRO-3 has partitioned any, else
    None."""
    tensors = model.state_dict(keep_vars=True)
    return tensors if any(hasattr(t, "ds_id") for t in tensors.values()) else None


def full_state_dict(model: nn.Module) -> dict[str, torch.Tensor]:
    """``model.state_dict()``, whole also where ZeRO-3 has partitioned the parameters.

    Partitioned parameters are gathered one at a time and copied to the CPU, so no rank ever
    holds more than one whole parameter beyond its partition. Every data-parallel rank must call
    this (the gathers are collective). DeepSpeed, otherwise confined to training/engine.py, is
    imported only when its partitioned parameters are present: gathering them needs its API.
    """
    tensors = _zero3_tensors(model)
    if tensors is None:
        return model.state_dict()
    import deepspeed

    state = {}
    for key, tensor in tensors.items():
        with deepspeed.zero.GatheredParameters([tensor]):
            state[key] = tensor.detach().to("cpu", copy=True)
    return state


def load_state(model: nn.Module, state: dict[str, torch.Tensor], strict: bool = True) -> None:
    """``model.load_state_dict(state)``, also into parameters ZeRO-3 has partitioned.

    Each partitioned parameter is gathered, overwritten and partitioned again (data-parallel
    rank 0's copy is broadcast, so every rank must call this with the same ``state``).
    """
    tensors = _zero3_tensors(model)
    if tensors is None:
        model.load_state_dict(state, strict=strict)
        return
    import deepspeed

    with torch.no_grad():
        for key, tensor in tensors.items():
            if key in state:
                with deepspeed.zero.GatheredParameters([tensor], modifier_rank=0):
                    tensor.data.copy_(state[key])


def check_state_against_model(
    state: dict[str, torch.Tensor], model: nn.Module, path: Path, strict: bool = True
) -> None:
    """Raise a CheckpointError naming the first key whose presence or shape does not match.

    Shapes are those of the whole tensors, also under ZeRO-3.
    """
    expected = {k: _whole_shape(t) for k, t in model.state_dict(keep_vars=True).items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if strict and (missing or unexpected):
        layers = [k for k in missing + unexpected if ".layers." in k]
        advice = (
            "check --num-layers"
            if layers
            else "check the model flags (--block-lm, --no-block-position, --num-layers, ...)"
        )
        raise CheckpointError(
            f"{path} does not match the model: missing keys {missing[:3]}, unexpected keys "
            f"{unexpected[:3]}: {advice}"
        )
    hidden = [k for k in state if k.endswith("final_layernorm.weight") and k in expected]
    if hidden and tuple(state[hidden[0]].shape) != expected[hidden[0]]:
        raise CheckpointError(
            f"{path} has hidden size {state[hidden[0]].shape[0]} but the model has "
            f"{expected[hidden[0]][0]}: check --hidden-size"
        )
    for key, value in state.items():
        if key in expected and tuple(value.shape) != expected[key]:
            raise CheckpointError(
                f"{path}: {key} has shape {list(value.shape)} but the model expects "
                f"{list(expected[key])}: check {_hint(key)}"
            )


def read_model_shard(
    path: str | Path, tp_rank: int = 0, tp_world: int = 1
) -> tuple[dict[str, torch.Tensor], dict, Path]:
    """This rank's model state of the checkpoint at ``path``, the whole checkpoint dict, and
    the shard file. The checkpoint must have been saved at ``tp_world`` shards (resharding is
    ``change_mp.py``)."""
    location = locate_checkpoint(path)
    if location.num_shards != tp_world:
        raise CheckpointError(
            f"{location.tag_dir} was saved at model-parallel size {location.num_shards} but this "
            f"run uses {tp_world}: launch with --model-parallel-size {location.num_shards} or "
            f"reshard with `python change_mp.py {path} {tp_world}`"
        )
    shard = location.shard_path(tp_rank)
    checkpoint = load_checkpoint_file(shard)
    return extract_module_state(checkpoint, shard), checkpoint, shard


def load_model_checkpoint(
    model: nn.Module,
    path: str | Path,
    tp_rank: int = 0,
    tp_world: int = 1,
    strict: bool = True,
) -> dict:
    """Load this rank's shard of the checkpoint at ``path`` into ``model``.

    Returns the whole checkpoint dict (iteration, RNG states, ... for callers that resume).
    """
    state, checkpoint, shard = read_model_shard(path, tp_rank, tp_world)
    check_state_against_model(state, model, shard, strict=strict)
    load_state(model, state, strict=strict)
    return checkpoint
