"""What a GLM checkpoint looks like in the Hugging Face (THUDM glm) layout, both directions.

- weights: GLM's own state-dict keys under the ``glm.`` prefix;
- ``config.json``: the fields of GLM's model constructor (``num_layers``, ``hidden_size``,
  ``max_sequence_length``, ``block_position_encoding``, ...), ``model_type: glm`` and an
  ``auto_map`` that points the Auto classes at the remote code in ``interop/hf_remote``;
- the GLM-10B-Chinese quirk (spec §3.4): it was trained with ``[gMASK]`` sharing id 50007
  with ``<|endofpiece|>``. Hugging Face tokenizers give ``[gMASK]`` its own id (50009, the
  ``--fix-command-token`` table), so export copies the embedding rows of every command token
  whose id moves (row 50007 -> 50009, and ``[dBLOCK]`` 50009 -> 50010 if present) and import
  copies them back.
"""

from __future__ import annotations

import re
from dataclasses import replace

import torch

from checkpoint_io import CheckpointError
from data_utils.tokenization import TokenizerConfig, build_tokenizer

PREFIX = "glm."
REMOTE_FILES = ("configuration_glm.py", "modeling_glm.py", "tokenization_glm.py")
AUTO_MAP = {
    "AutoConfig": "configuration_glm.GLMConfig",
    "AutoModel": "modeling_glm.GLMModel",
    "AutoModelForSeq2SeqLM": "modeling_glm.GLMForConditionalGeneration",
    "AutoModelForMultipleChoice": "modeling_glm.GLMForMultipleChoice",
}
# GLM-constructor fields a model folder records beyond the shapes (spec §14).
FIXED_FIELDS = dict(
    embedding_dropout_prob=0.1,
    attention_dropout_prob=0.1,
    output_dropout_prob=0.1,
    max_memory_length=0,
    checkpoint_activations=False,
    checkpoint_num_layers=1,
    parallel_output=True,
    relative_encoding=False,
    output_predict=True,
    spell_length=None,
    spell_func="lstm",
    attention_scale=1.0,
    initializer_range=0.02,
)
_LAYER = re.compile(r"^transformer\.layers\.(\d+)\.")
_FOREIGN = ("pool_layer.", "multichoice_head.", "prompt_spell.", "model.")


def model_fields(state: dict[str, torch.Tensor], num_attention_heads: int) -> dict:
    """The shape fields of ``config.json`` read off a merged (MP=1) GLM state dict."""
    foreign = [k for k in state if k.startswith(_FOREIGN)]
    if foreign:
        raise CheckpointError(
            f"{foreign[0]} belongs to a classification head or P-tuning prompt: only the GLM "
            "language model (pretrained or cloze-finetuned) can be converted"
        )
    if "transformer.position_embeddings.weight" not in state:
        raise CheckpointError(
            "the checkpoint has no position tables: a --position-encoding rotary model, which "
            "the Hugging Face layout does not describe; keep it in GLM's layout"
        )
    hidden = state["transformer.final_layernorm.weight"].shape[0]
    if hidden % num_attention_heads:
        raise ValueError(
            f"--num-attention-heads {num_attention_heads} does not divide hidden size {hidden}"
        )
    block = "transformer.block_position_embeddings.weight" in state
    inner = state["transformer.layers.0.mlp.dense_h_to_4h.weight"].shape[0]
    return dict(
        num_layers=len({m.group(1) for k in state if (m := _LAYER.match(k))}),
        vocab_size=state["word_embeddings.weight"].shape[0],
        hidden_size=hidden,
        num_attention_heads=num_attention_heads,
        intermediate_size=None if inner == 4 * hidden else inner,
        max_sequence_length=state["transformer.position_embeddings.weight"].shape[0] - int(block),
        block_position_encoding=block,
    )


_FLAG_NAMES = {
    "num_layers": "--num-layers",
    "hidden_size": "--hidden-size",
    "max_sequence_length": "--max-position-embeddings",
    "vocab_size": "the padded vocabulary",
}


def check_fields(fields: dict, expected: dict, source: str) -> None:
    """One error naming the first shape that differs from what the flags or config say."""
    for name, value in expected.items():
        if value is not None and value != fields[name]:
            raise CheckpointError(
                f"{source} has {name}={fields[name]} but {_FLAG_NAMES[name]} says {value}"
            )


def glm_flags(fields: dict) -> str:
    """The model flags that build this model in our scripts."""
    flags = [
        f"--num-layers {fields['num_layers']}",
        f"--hidden-size {fields['hidden_size']}",
        f"--num-attention-heads {fields['num_attention_heads']}",
        f"--max-position-embeddings {fields['max_sequence_length']}",
    ]
    if fields.get("intermediate_size"):
        flags.append(f"--intermediate-size {fields['intermediate_size']}")
    return " ".join((["--block-lm"] if fields["block_position_encoding"] else []) + flags)


def hf_command_tokenizer(cfg: TokenizerConfig):
    """The tokenizer whose ids the Hugging Face folder uses: GLM's, except that a Chinese
    model without --fix-command-token gets the fixed table (distinct [gMASK] id)."""
    return build_tokenizer(hf_tokenizer_config(cfg))


def hf_tokenizer_config(cfg: TokenizerConfig) -> TokenizerConfig:
    if cfg.tokenizer_type == "ChineseSPTokenizer" and not cfg.fix_command_token:
        return replace(cfg, fix_command_token=True)
    return cfg


def command_row_moves(cfg: TokenizerConfig) -> tuple[dict[int, int], set[int]]:
    """``({glm_id: hf_id} for command tokens whose id differs, ids equal in both tables)``."""
    if hf_tokenizer_config(cfg) == cfg:
        return {}, set()
    ours = {c.name: c.id for c in build_tokenizer(cfg).command_tokens}
    theirs = {c.name: c.id for c in build_tokenizer(hf_tokenizer_config(cfg)).command_tokens}
    moves = {ours[n]: theirs[n] for n in ours if ours[n] != theirs[n]}
    same = {ours[n] for n in ours if ours[n] == theirs[n]}
    return moves, same


def copy_rows(weight: torch.Tensor, moves: dict[int, int]) -> torch.Tensor:
    """A copy of ``weight`` with row ``src`` written to row ``dst`` for each move (all reads
    from the original rows)."""
    if max([*moves, *moves.values()], default=-1) >= weight.shape[0]:
        raise CheckpointError(f"command-token rows {moves} exceed the {weight.shape[0]}-row vocab")
    out = weight.clone()
    for src, dst in moves.items():
        out[dst] = weight[src]
    return out
