"""Import a Hugging Face GLM folder (THUDM glm layout, or one we exported) as a GLM checkpoint.

Reads ``config.json`` and the weights (``model.safetensors`` or ``pytorch_model.bin``, sharded
or not; keys with or without the ``glm.`` prefix) and writes a release checkpoint::

    <out>/latest_checkpointed_iteration.txt    "release"
    <out>/release/mp_rank_XX_model_states.pt   {"module": ..., "iteration": 0}

at any model-parallel size. For a Chinese model used without ``--fix-command-token`` (the
GLM-10B-Chinese setting) the command-token embedding rows move back to the shared-id table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors.torch import load_file

from checkpoint_io import CheckpointError
from data_utils.tokenization import TokenizerConfig, build_tokenizer
from interop.folders import write_checkpoint_folder
from interop.hf_layout import (
    PREFIX,
    check_fields,
    command_row_moves,
    copy_rows,
    glm_flags,
    model_fields,
)
from interop.reshard import check_divisible
from interop.zero import DTYPES
from model.glm import glm_partition_spec
from mpu.sharding import reshard_state_dicts

_WEIGHT_FILES = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)


@dataclass(frozen=True)
class ImportResult:
    out: Path
    model_parallel_size: int
    flags: str  # the model flags to run the checkpoint with


def _load_weight_file(path: Path) -> dict[str, torch.Tensor]:
    if path.suffix == ".safetensors":
        return load_file(path)
    return torch.load(path, map_location="cpu", weights_only=True, mmap=True)


def load_hf_weights(folder: str | Path) -> dict[str, torch.Tensor]:
    """The GLM state dict of a Hugging Face folder (``glm.`` prefix removed)."""
    folder = Path(folder)
    for single, index in _WEIGHT_FILES:
        if (folder / single).is_file():
            state = _load_weight_file(folder / single)
            break
        if (folder / index).is_file():
            shards = sorted(set(json.loads((folder / index).read_text())["weight_map"].values()))
            state = {k: v for name in shards for k, v in _load_weight_file(folder / name).items()}
            break
    else:
        raise FileNotFoundError(
            f"{folder} has no model.safetensors or pytorch_model.bin (nor their index files): "
            "not a Hugging Face model folder"
        )
    return {k.removeprefix(PREFIX): v for k, v in state.items()}


def read_hf_config(folder: Path) -> dict:
    path = folder / "config.json"
    if not path.is_file():
        raise FileNotFoundError(f"{path} not found: not a Hugging Face model folder")
    config = json.loads(path.read_text())
    if config.get("model_type") != "glm" or "num_layers" not in config:
        raise CheckpointError(
            f"{path} is not a GLM (blank infilling) config: model_type "
            f"{config.get('model_type')!r}, expected 'glm' with num_layers, hidden_size, ..."
        )
    return config


def _restore_command_rows(state: dict, cfg: TokenizerConfig) -> dict:
    """Move command-token rows from the Hugging Face ids back to GLM's shared-id table."""
    moves, unchanged = command_row_moves(cfg)
    back = {hf: ours for ours, hf in moves.items() if ours not in unchanged}
    if not back:
        return state
    return {**state, "word_embeddings.weight": copy_rows(state["word_embeddings.weight"], back)}


def import_from_hf(
    folder: str | Path,
    out: str | Path,
    model_parallel_size: int = 1,
    tokenizer_config: TokenizerConfig | None = None,
    dtype: str | None = None,
    safetensors: bool = False,
) -> ImportResult:
    """Write the GLM release checkpoint of a Hugging Face GLM folder."""
    folder = Path(folder)
    config = read_hf_config(folder)
    state = load_hf_weights(folder)
    fields = model_fields(state, config["num_attention_heads"])
    shapes = ("num_layers", "vocab_size", "hidden_size", "max_sequence_length")
    check_fields(fields, {k: config.get(k) for k in shapes}, f"{folder} (weights)")
    if tokenizer_config is not None:
        padded = build_tokenizer(tokenizer_config).vocab_size
        if padded != fields["vocab_size"]:
            raise ValueError(
                f"the tokenizer flags give a padded vocabulary of {padded} but {folder} has "
                f"{fields['vocab_size']} rows: check the tokenizer flags"
            )
        state = _restore_command_rows(state, tokenizer_config)
    if dtype is not None:
        state = {k: v.to(DTYPES[dtype]) for k, v in state.items()}
    check_divisible(state, model_parallel_size, config["num_attention_heads"])
    shards = reshard_state_dicts([state], model_parallel_size, glm_partition_spec)
    payload = [{"module": shard, "iteration": 0} for shard in shards]
    write_checkpoint_folder(out, "release", payload, safetensors)
    return ImportResult(Path(out), model_parallel_size, glm_flags(fields))
