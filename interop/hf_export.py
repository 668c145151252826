"""Export a GLM checkpoint (any model-parallel size) to a Hugging Face model folder.

The folder holds ``config.json``, ``pytorch_model.bin`` or ``model.safetensors`` (keys
``glm.<GLM key>``), the tokenizer's vocabulary files and ``tokenizer_config.json`` (with GLM's
command tokens and their ids), and the remote code of ``interop/hf_remote``, so that::

    AutoTokenizer.from_pretrained(folder, trust_remote_code=True)
    AutoModelForSeq2SeqLM.from_pretrained(folder, trust_remote_code=True)
    AutoModelForMultipleChoice.from_pretrained(folder, trust_remote_code=True)

work offline. Shards are merged in memory (third-wise for the fused QKV); the dtype is kept
unless one is asked for. The folder is written atomically.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch
from safetensors.torch import save_file

from checkpoint_io import load_checkpoint_file, locate_checkpoint
from common.atomic import atomic_folder
from data_utils.tokenization import TokenizerConfig, build_tokenizer
from interop.folders import read_run_config, run_config_heads
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
from interop.reshard import reshard_checkpoints
from interop.zero import DTYPES

REMOTE_DIR = Path(__file__).parent / "hf_remote"


def load_merged_state(path: str | Path) -> tuple[dict[str, torch.Tensor], dict | None]:
    """The MP=1 state dict of a checkpoint folder, tag folder or ``mp_rank_XX`` file (a file
    stands for its whole tag folder: every shard is merged), and its run configuration."""
    path = Path(path)
    location = locate_checkpoint(path.parent if path.is_file() else path)
    shards = [load_checkpoint_file(location.shard_path(r)) for r in range(location.num_shards)]
    return reshard_checkpoints(shards, 1)[0]["module"], read_run_config(location.tag_dir)


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


def export_to_hf(
    checkpoint: str | Path,
    out: str | Path,
    tokenizer_config: TokenizerConfig | None = None,
    num_attention_heads: int | None = None,
    safetensors: bool = False,
    dtype: str | None = None,
    expected: dict | None = None,
) -> Path:
    """Write the Hugging Face folder ``out`` for ``checkpoint``; returns ``out``.

    The tokenizer settings and head count default to the run configuration saved with our
    training checkpoints. ``expected`` maps config fields (``num_layers``, ...) to the values
    the caller's flags give; a checkpoint that differs is refused.
    """
    state, run_config = load_merged_state(checkpoint)
    cfg, heads = _from_run_config(run_config, tokenizer_config, num_attention_heads)
    fields = model_fields(state, heads)
    check_fields(fields, expected or {}, str(checkpoint))
    _checked_tokenizer(cfg, fields["vocab_size"])
    moves, _ = command_row_moves(cfg)
    if moves:
        state = {
            **state,
            "word_embeddings.weight": copy_rows(state["word_embeddings.weight"], moves),
        }
    if dtype is not None:
        state = {k: v.to(DTYPES[dtype]) for k, v in state.items()}
    weights = {PREFIX + k: v.contiguous() for k, v in state.items()}
    config = model_config_json(fields, cfg, state["word_embeddings.weight"].dtype)
    tokenizer_json = tokenizer_config_json(cfg, fields["max_sequence_length"])
    _, files, _ = tokenizer_files(cfg)
    files.update({name: REMOTE_DIR / name for name in REMOTE_FILES})
    with atomic_folder(out) as tmp:
        (tmp / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        (tmp / "tokenizer_config.json").write_text(json.dumps(tokenizer_json, indent=2) + "\n")
        if safetensors:
            save_file(weights, tmp / "model.safetensors", metadata={"format": "pt"})
        else:
            torch.save(weights, tmp / "pytorch_model.bin")
        for name, source in files.items():
            shutil.copyfile(source, tmp / name)
    return Path(out)
