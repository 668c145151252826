"""Import a Hugging Face GLM folder (THUDM glm layout, or one we exported) as a GLM checkpoint.

Reads ``config.json`` and the weights (``model.safetensors`` or ``pytorch_model.bin``, sharded
or not; keys with or without the ``glm.`` prefix) and writes a release checkpoint::

    <out>/latest_checkpointed_iteration.txt    "release"
    <out>/release/mp_rank_XX_model_states.pt   {"module": ..., "iteration": 0}

at any model-parallel size, with a manifest, one group of tensors at a time (the weights are
never held whole). For a Chinese model used without ``--fix-command-token`` (the
GLM-10B-Chinese setting) the command-token embedding rows move back to the shared-id table.
"""

from __future__ import annotations

import json
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

from checkpoint_io import CheckpointError, ShardReader, TensorSpec
from data_utils.tokenization import TokenizerConfig, build_tokenizer
from interop.folders import Fill, ShardPlan, write_checkpoint_folder
from interop.hf_layout import (
    PREFIX,
    check_fields,
    command_row_moves,
    copy_rows,
    glm_flags,
    model_fields,
)
from interop.reshard import check_divisible, resized_specs
from interop.zero import DTYPES
from model.glm import glm_partition_spec
from mpu.sharding import copy_shard

_WEIGHT_FILES = (
    ("model.safetensors", "model.safetensors.index.json"),
    ("pytorch_model.bin", "pytorch_model.bin.index.json"),
)


@dataclass(frozen=True)
class ImportResult:
    out: Path
    model_parallel_size: int
    flags: str  # the model flags to run the checkpoint with


def hf_weight_files(folder: Path) -> list[Path]:
    """The weight files of a Hugging Face folder (one, or those its index lists)."""
    for single, index in _WEIGHT_FILES:
        if (folder / single).is_file():
            return [folder / single]
        if (folder / index).is_file():
            try:
                weight_map = json.loads((folder / index).read_text())["weight_map"]
            except (ValueError, KeyError, TypeError) as error:
                raise CheckpointError(f"{folder / index} is damaged ({error!r})") from error
            return [folder / name for name in sorted(set(weight_map.values()))]
    raise FileNotFoundError(
        f"{folder} has no model.safetensors or pytorch_model.bin (nor their index files): "
        "not a Hugging Face model folder"
    )


def hf_sources(folder: Path) -> dict[str, tuple[ShardReader, str]]:
    """GLM key (``glm.`` prefix removed) -> (the reader of the file holding it, its name)."""
    sources = {}
    for path in hf_weight_files(folder):
        reader = ShardReader(path, module_key=None)
        for name in reader.specs:
            sources[name.removeprefix(PREFIX)] = (reader, name)
    return sources


def import_fill(sources: dict[str, tuple[ShardReader, str]], back: dict[int, int]) -> Fill:
    """Cut each target rank's piece out of the Hugging Face tensors, a group at a time."""

    def fill(keys, targets):
        wanted: dict[ShardReader, list[str]] = {}
        for key in keys:
            reader, name = sources[key]
            wanted.setdefault(reader, []).append(name)
        with ExitStack() as stack:
            read = {}
            for reader, names in wanted.items():
                tensors = stack.enter_context(reader.read(names))
                read.update({name.removeprefix(PREFIX): value for name, value in tensors.items()})
            for key in keys:
                value = read[key]
                if key == "word_embeddings.weight" and back:
                    value = copy_rows(value, back)
                layout = glm_partition_spec(key)
                for rank, tensors in targets.items():
                    if layout is None:
                        tensors[key].copy_(value)
                    else:
                        copy_shard([value], tensors[key], *layout, rank)

    return fill


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


def _rows_back(cfg: TokenizerConfig | None) -> dict[int, int]:
    """Command-token rows to move from the Hugging Face ids back to GLM's shared-id table."""
    if cfg is None:
        return {}
    moves, unchanged = command_row_moves(cfg)
    return {hf: ours for ours, hf in moves.items() if ours not in unchanged}


def import_from_hf(
    folder: str | Path,
    out: str | Path,
    model_parallel_size: int = 1,
    tokenizer_config: TokenizerConfig | None = None,
    dtype: str | None = None,
    safetensors: bool = False,
) -> ImportResult:
    """Write the GLM release checkpoint of a Hugging Face GLM folder, one group of tensors at a
    time (safetensors files are read lazily, ``pytorch_model.bin`` memory-mapped)."""
    folder = Path(folder)
    config = read_hf_config(folder)
    sources = hf_sources(folder)
    whole = {key: reader.specs[name] for key, (reader, name) in sources.items()}
    heads = config["num_attention_heads"]
    fields = model_fields(whole, heads)
    shapes = ("num_layers", "vocab_size", "hidden_size", "max_sequence_length")
    check_fields(fields, {k: config.get(k) for k in shapes}, f"{folder} (weights)")
    if tokenizer_config is not None:
        padded = build_tokenizer(tokenizer_config).vocab_size
        if padded != fields["vocab_size"]:
            raise ValueError(
                f"the tokenizer flags give a padded vocabulary of {padded} but {folder} has "
                f"{fields['vocab_size']} rows: check the tokenizer flags"
            )
    check_divisible(whole, model_parallel_size, heads)
    cast = DTYPES[dtype] if dtype is not None else None
    whole = {
        key: TensorSpec(spec.shape, cast if cast and spec.dtype.is_floating_point else spec.dtype)
        for key, spec in whole.items()
    }
    plan = ShardPlan(resized_specs(whole, 1 / model_parallel_size), {"iteration": 0})
    fill = import_fill(sources, _rows_back(tokenizer_config))
    plans = [plan] * model_parallel_size
    write_checkpoint_folder(out, "release", plans, fill, safetensors, num_attention_heads=heads)
    return ImportResult(Path(out), model_parallel_size, glm_flags(fields))
