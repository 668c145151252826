"""Checkpoint weights against a model: shape checks, loading, and ZeRO-3 gathering.

Every mismatch between a checkpoint and the model is reported in one line that names the key
or file and the flag to check, never as a shape traceback. Weights are read one group at a time
(``checkpoint_io.stream``): into a built model they are copied, cast to its dtype; a model built
on the meta device takes them in the dtype asked for, so the model is held once, never twice.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

import torch
from torch import nn

from checkpoint_io.layout import CheckpointError
from checkpoint_io.stream import OpenCheckpoint, ShardReader, TensorSpec, open_checkpoint

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


def load_state(
    model: nn.Module, state: dict[str, torch.Tensor], strict: bool = True, assign: bool = False
) -> None:
    """``model.load_state_dict(state)``, also into parameters ZeRO-3 has partitioned.

    Each partitioned parameter is gathered, overwritten and partitioned again (data-parallel
    rank 0's copy is broadcast, so every rank must call this with the same ``state``).
    ``assign`` makes the tensors of ``state`` the parameters (for a model on the meta device).
    """
    tensors = _zero3_tensors(model)
    if tensors is None:
        model.load_state_dict(state, strict=strict, assign=assign)
        return
    import deepspeed

    with torch.no_grad():
        for key, tensor in tensors.items():
            if key in state:
                with deepspeed.zero.GatheredParameters([tensor], modifier_rank=0):
                    tensor.data.copy_(state[key])


def check_state_against_model(
    state: Mapping[str, torch.Tensor | TensorSpec],
    model: nn.Module,
    path: Path,
    strict: bool = True,
) -> None:
    """Raise a CheckpointError naming the first key whose presence or shape does not match.

    ``state`` maps keys to tensors or ``TensorSpec``s. Shapes are those of the whole tensors,
    also under ZeRO-3.
    """
    expected = {k: _whole_shape(t) for k, t in model.state_dict(keep_vars=True).items()}
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    if strict and (missing or unexpected):
        layers = [k for k in missing + unexpected if ".layers." in k]
        if layers:
            advice = "check --num-layers"
        elif "transformer.position_embeddings.weight" in missing + unexpected:  # rotary: none
            advice = (
                "check --position-encoding (rotary models have no position tables, "
                "absolute ones do)"
            )
        else:
            advice = "check the model flags (--block-lm, --no-block-position, --num-layers, ...)"
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


def check_heads(checkpoint: OpenCheckpoint, model: nn.Module) -> None:
    """The head count saved with the checkpoint (if any) is the model's (shapes cannot tell)."""
    saved = checkpoint.heads
    heads = getattr(getattr(model, "config", None), "num_attention_heads", None)
    if saved is not None and heads is not None and saved != heads:
        raise CheckpointError(
            f"{checkpoint.location.tag_dir} was saved with {saved} attention heads but the model "
            f"has {heads}: check --num-attention-heads"
        )


def _materialised(
    empty: torch.Tensor,
    value: torch.Tensor,
    dtype: torch.dtype | None,
    device: torch.device | str | None,
) -> torch.Tensor:
    """``value`` copied into a new tensor with the shape and memory layout (strides) of the
    meta tensor ``empty``, in ``dtype`` (floating point only) on ``device``: cast and layout in
    one pass."""
    dtype = dtype if dtype is not None and value.is_floating_point() else value.dtype
    out = torch.empty_strided(empty.shape, empty.stride(), dtype=dtype, device=device)
    if out.dim() == 2 and not out.is_contiguous() and out.t().is_contiguous():
        # A transposed layout (GLMModel.use_decoding_layout): cast first, then let torch's
        # transposing copy, which is fast only into a contiguous destination, write out.t().
        out.t().copy_(value.to(dtype).t())
        return out
    return out.copy_(value)


def stream_into_model(
    model: nn.Module,
    reader: ShardReader,
    transform: Callable[[dict[str, torch.Tensor]], dict[str, torch.Tensor]] | None = None,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> None:
    """Load ``reader``'s weights into ``model`` one group at a time (non-strictly: check the
    keys first). A model on the meta device gets new tensors in ``dtype`` on ``device``, laid
    out as its meta tensors are, which become its parameters: the model is held once, never
    twice. Into a built model the tensors are copied, cast to its dtype."""
    empty = {k: t for k, t in model.state_dict(keep_vars=True).items() if t.is_meta}
    old = {name: p for name, p in model.named_parameters() if p.is_meta}
    for group in reader.iter_groups():
        state = transform(group) if transform else group
        if empty:
            state = {
                key: _materialised(empty[key], value, dtype, device) if key in empty else value
                for key, value in state.items()
            }
        load_state(model, state, strict=False, assign=bool(empty))
    for name, param in model.named_parameters():
        if name in old:
            param.__dict__.update(old[name].__dict__)  # tensor-parallel marks (mpu.sharding)
    left = [name for name, t in [*model.named_parameters(), *model.named_buffers()] if t.is_meta]
    if left:
        raise CheckpointError(f"{reader.path} does not hold {left[0]}: check the model flags")


def load_model_checkpoint(
    model: nn.Module,
    path: str | Path,
    tp_rank: int = 0,
    tp_world: int = 1,
    strict: bool = True,
    verify: bool = True,
    dtype: torch.dtype | None = None,
    device: torch.device | str | None = None,
) -> dict:
    """Load this rank's shard of the checkpoint at ``path`` into ``model``, one group of
    tensors at a time, after checking the shard count, checksum (``verify``), shapes and head
    count. A model built on the meta device gets its weights in ``dtype`` on ``device``.

    Returns the entries saved beside the weights (iteration, RNG states, ... for callers that
    resume).
    """
    checkpoint = open_checkpoint(path, [tp_rank], verify, model_parallel_size=tp_world)
    reader = checkpoint.readers[tp_rank]
    check_state_against_model(reader.specs, model, reader.path, strict=strict)
    check_heads(checkpoint, model)
    stream_into_model(model, reader, dtype=dtype, device=device)
    return reader.extras
