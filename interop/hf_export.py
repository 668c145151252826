"""Export a GLM checkpoint (any model-parallel size) to a Hugging Face model folder.

The folder holds ``config.json``, ``pytorch_model.bin`` or ``model.safetensors`` (keys
``glm.<GLM key>``), the tokenizer's vocabulary files and ``tokenizer_config.json`` (with GLM's
command tokens and their ids), and the remote code of ``interop/hf_remote``, so that::

    AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
    AutoModelForMultipleChoice.from_pretrained(folder, trust_remote_code=True)

work offline. Shards are merged (third-wise for the fused QKV) one group of tensors at a time,
straight into the output file; the dtype is kept unless one is asked for. A safetensors file is
written whole, so larger models are split into ``model-0000k-of-0000n.safetensors`` files (2 GB
by default) with an index, as Hugging Face does. The folder is written atomically.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from checkpoint_io import ShardReader, TensorSpec, open_checkpoint, plan_groups
from common.atomic import atomic_folder
from data_utils.tokenization import TokenizerConfig, build_tokenizer
from interop.folders import Fill, run_config_heads
from interop.hf_layout import (
    AUTO_MAP,
    FIXED_FIELDS,
    PREFIX,
    REMOTE_FILES,
    check_fields,
    command_row_moves,
    copy_rows,
    hf_command_tokenizer,
    model_fields,
)
from interop.reshard import reshard_fill, resized_specs
from interop.streamed import StreamedFiles, placeholders
from interop.zero import DTYPES

REMOTE_DIR = Path(__file__).parent / "hf_remote"
MAX_SHARD_BYTES = 2 << 30  # a model.safetensors larger than this is split (written whole each)


def _from_run_config(run_config: dict | None, tokenizer_config, heads):
    """Fill what the caller left out from the run configuration saved with the checkpoint."""
    if tokenizer_config is None and run_config and "tokenizer" in run_config:
        tokenizer_config = TokenizerConfig(**run_config["tokenizer"])
    heads = heads or run_config_heads(run_config)
    if tokenizer_config is None or heads is None:
        raise ValueError(
            "the checkpoint has no saved run configuration: give --num-attention-heads and "
            "the tokenizer flags (or a model name such as glm-10b)"
        )
    return tokenizer_config, heads


def tokenizer_files(cfg: TokenizerConfig) -> tuple[str, dict[str, Path], dict]:
    """(remote tokenizer class, {file name in the folder: source file}, extra init kwargs)."""
    folder = Path(cfg.tokenizer_path or ".")
    if cfg.tokenizer_type == "GPT2BPETokenizer":
        kind = cfg.tokenizer_model_type or "gpt2"
        merges = folder / f"{kind}-merges.txt"
        merges = merges if merges.is_file() else folder / "gpt2-merges.txt"
        files = {"vocab.json": folder / f"{kind}-vocab.json", "merges.txt": merges}
        return "GLMGPT2Tokenizer", files, {}
    if cfg.tokenizer_type == "BertWordPieceTokenizer":
        kind = cfg.tokenizer_model_type or "bert-large-uncased"
        vocab = folder / f"{kind}-vocab.txt"
        vocab = vocab if vocab.is_file() else folder / "bert-base-uncased-vocab.txt"
        lower = "-cased" not in kind
        return "GLMBertTokenizer", {"vocab.txt": vocab}, {"do_lower_case": lower}
    if cfg.tokenizer_type == "ChineseSPTokenizer":
        return "GLMChineseTokenizer", {"cog-pretrain.model": folder / "cog-pretrain.model"}, {}
    raise ValueError(
        f"--tokenizer-type {cfg.tokenizer_type} has no Hugging Face tokenizer here: use "
        "GPT2BPETokenizer, BertWordPieceTokenizer or ChineseSPTokenizer"
    )


def tokenizer_config_json(cfg: TokenizerConfig, max_length: int) -> dict:
    tokenizer = hf_command_tokenizer(cfg)
    name, _, extra = tokenizer_files(cfg)
    commands = [
        {"name": c.name, "token": c.token, "id": c.id, "lstrip": c.lstrip}
        for c in tokenizer.command_tokens
    ]
    return {
        "tokenizer_class": name,
        "auto_map": {"AutoTokenizer": [f"tokenization_glm.{name}", None]},
        "command_tokens": commands,
        "model_max_length": max_length,
        "padding_side": "right",
        "clean_up_tokenization_spaces": False,
        **extra,
    }


def model_config_json(fields: dict, cfg: TokenizerConfig, dtype: torch.dtype) -> dict:
    """``config.json``: GLM's constructor fields, the Auto classes, and generation defaults
    (stop on ``<|endofpiece|>`` or ``<|endoftext|>``, as GLM's generation does)."""
    tokenizer = hf_command_tokenizer(cfg)
    return {
        "architectures": ["GLMForConditionalGeneration"],
        "auto_map": AUTO_MAP,
        "model_type": "glm",
        **fields,
        **FIXED_FIELDS,
        "pad_token_id": tokenizer.pad_id,
        "eos_token_id": [tokenizer.eop_id, tokenizer.eos_id],
        "torch_dtype": str(dtype).removeprefix("torch."),
    }


def _checked_tokenizer(cfg: TokenizerConfig, vocab_rows: int) -> None:
    padded = build_tokenizer(cfg).vocab_size
    if padded != vocab_rows:
        raise ValueError(
            f"the tokenizer flags give a padded vocabulary of {padded} but the checkpoint has "
            f"{vocab_rows} rows: check --tokenizer-type, --tokenizer-model-type, --task-mask "
            "and --make-vocab-size-divisible-by"
        )


def _export_specs(whole: dict[str, TensorSpec], dtype: str | None) -> dict[str, TensorSpec]:
    cast = DTYPES[dtype] if dtype is not None else None
    return {
        PREFIX + key: TensorSpec(
            spec.shape, cast if cast and spec.dtype.is_floating_point else spec.dtype
        )
        for key, spec in whole.items()
    }


def merge_fill(readers: list[ShardReader], moves: dict[int, int]) -> Fill:
    """Fill the Hugging Face tensors (``glm.`` keys, MP=1) from the GLM shards, a group at a
    time; the command-token rows of the word embeddings move as the tokenizer needs."""
    merge = reshard_fill(readers)

    def fill(keys, targets):
        merge([key.removeprefix(PREFIX) for key in keys], {0: _unprefixed(targets[0])})
        embeddings = targets[0].get(PREFIX + "word_embeddings.weight")
        if embeddings is not None and moves:
            embeddings.copy_(copy_rows(embeddings, moves))

    return fill


def _unprefixed(tensors: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {key.removeprefix(PREFIX): value for key, value in tensors.items()}


def write_hf_weights(
    folder: Path, specs: dict[str, TensorSpec], fill: Fill, safetensors: bool, max_shard_bytes: int
) -> None:
    """``pytorch_model.bin`` streamed a group at a time; or ``model.safetensors``, split into
    ``model-0000k-of-0000n.safetensors`` files of at most ``max_shard_bytes`` with an index
    (Hugging Face's sharded layout) when larger, since each file is written whole."""
    if not safetensors:
        files = StreamedFiles({0: folder / "pytorch_model.bin"}, {0: specs}, module_key=None)
        for keys in plan_groups({key: spec.nbytes for key, spec in specs.items()}):
            with files.open(keys) as targets:
                fill(keys, targets)
        return
    sizes = {key: spec.nbytes for key, spec in specs.items()}
    files = plan_groups(sizes, max_shard_bytes)
    names = [
        "model.safetensors"
        if len(files) == 1
        else f"model-{i + 1:05d}-of-{len(files):05d}.safetensors"
        for i in range(len(files))
    ]
    for name, keys in zip(names, files, strict=True):
        weights = placeholders({key: specs[key] for key in keys})
        for group in plan_groups({key: sizes[key] for key in keys}):
            fill(group, {0: {key: weights[key] for key in group}})
        save_file(weights, folder / name, metadata={"format": "pt"})
        del weights
    if len(files) > 1:
        weight_map = {key: name for name, keys in zip(names, files, strict=True) for key in keys}
        index = {"metadata": {"total_size": sum(sizes.values())}, "weight_map": weight_map}
        (folder / "model.safetensors.index.json").write_text(json.dumps(index, indent=2) + "\n")


def export_to_hf(
    checkpoint: str | Path,
    out: str | Path,
    tokenizer_config: TokenizerConfig | None = None,
    num_attention_heads: int | None = None,
    safetensors: bool = False,
    dtype: str | None = None,
    expected: dict | None = None,
    verify: bool = True,
    max_shard_bytes: int = MAX_SHARD_BYTES,
) -> Path:
    """Write the Hugging Face folder ``out`` for ``checkpoint``; returns ``out``.

    ``checkpoint`` is a checkpoint folder, tag folder or ``mp_rank_XX`` file (a file stands for
    its whole tag folder: every shard is merged). The tokenizer settings and head count default
    to what was saved with the checkpoint. ``expected`` maps config fields (``num_layers``,
    ...) to the values the caller's flags give; a checkpoint that differs is refused.
    ``verify`` checks the shards' checksums against the checkpoint's manifest.
    """
    path = Path(checkpoint)
    source = open_checkpoint(path.parent if path.is_file() else path, verify=verify)
    readers = [source.readers[rank] for rank in range(source.location.num_shards)]
    whole = resized_specs(readers[0].specs, len(readers))
    heads = num_attention_heads or source.heads
    cfg, heads = _from_run_config(source.run_config, tokenizer_config, heads)
    fields = model_fields(whole, heads)
    check_fields(fields, expected or {}, str(checkpoint))
    _checked_tokenizer(cfg, fields["vocab_size"])
    moves, _ = command_row_moves(cfg)
    specs = _export_specs(whole, dtype)
    config = model_config_json(fields, cfg, specs[PREFIX + "word_embeddings.weight"].dtype)
    tokenizer_json = tokenizer_config_json(cfg, fields["max_sequence_length"])
    _, files, _ = tokenizer_files(cfg)
    files.update({name: REMOTE_DIR / name for name in REMOTE_FILES})
    with atomic_folder(out) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_json, indent=2) + "\n")
        fill = merge_fill(readers, moves)
        write_hf_weights(tmp, specs, fill, safetensors, max_shard_bytes)
        for name, source_file in files.items():
            shutil.copyfile(source_file, tmp / name)
    return Path(out)
