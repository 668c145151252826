"""The model and tokenizer flags of the conversion scripts (GLM's own flag names).

A ``config_tasks/model_*.sh`` flag list can be passed whole: the shape flags are checked
against the checkpoint, flags that do not concern conversion (``--cloze-eval``,
``--load-pretrained ...``) are reported and ignored. The original script's model names
(``glm-10b``, ``glm-10b-chinese``, ...) stand for the flags of those models.
"""

from __future__ import annotations

import argparse
import os

from data_utils.tokenization import TokenizerConfig

# Released models: heads and tokenizer settings (the shapes come from the checkpoint).
PRESETS = {
    "glm-large": dict(
        heads=16, tokenizer_type="BertWordPieceTokenizer", tokenizer_model_type="bert-large-uncased"
    ),
    "glm-515m": dict(
        heads=18, tokenizer_type="BertWordPieceTokenizer", tokenizer_model_type="bert-large-uncased"
    ),
    "glm-roberta-large": dict(
        heads=16, tokenizer_type="GPT2BPETokenizer", tokenizer_model_type="roberta"
    ),
    "glm-large-chinese": dict(
        heads=16, tokenizer_type="ChineseSPTokenizer", task_mask=True, fix_command_token=True
    ),
    "glm-2b": dict(heads=32, tokenizer_type="GPT2BPETokenizer", task_mask=True),
    "glm-10b": dict(heads=64, tokenizer_type="GPT2BPETokenizer", task_mask=True),
    "glm-10b-chinese": dict(heads=64, tokenizer_type="ChineseSPTokenizer", task_mask=True),
}
_SHAPE_FLAGS = {  # flag -> config field
    "num_layers": "num_layers",
    "hidden_size": "hidden_size",
    "max_position_embeddings": "max_sequence_length",
}


def add_model_flags(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("model and tokenizer (GLM flag names)")
    group.add_argument("--num-attention-heads", type=int)
    group.add_argument("--num-layers", type=int, help="checked against the checkpoint")
    group.add_argument("--hidden-size", type=int, help="checked against the checkpoint")
    group.add_argument("--max-position-embeddings", type=int, help="checked likewise")
    group.add_argument("--block-lm", action="store_true", help="accepted (GLM models are)")
    group.add_argument(
        "--tokenizer-type", help="default: the run configuration saved with the checkpoint"
    )
    group.add_argument("--tokenizer-model-type")
    group.add_argument(
        "--tokenizer-path",
        default=os.environ.get("GLM_TOKENIZER_PATH"),
        help="folder of the vocabulary files (default: $GLM_TOKENIZER_PATH)",
    )
    group.add_argument("--task-mask", action="store_true")
    group.add_argument("--fix-command-token", action="store_true")
    group.add_argument("--block-mask-prob", type=float, default=0.0)
    group.add_argument("--context-mask-ratio", type=float, default=0.0)
    group.add_argument("--make-vocab-size-divisible-by", type=int, default=128)


def parse_with_model_flags(
    parser: argparse.ArgumentParser, argv: list[str] | None
) -> argparse.Namespace:
    """Parse, apply a model-name preset, and report flags that conversion ignores."""
    args, unknown = parser.parse_known_args(argv)
    if unknown:
        print(f"ignoring flags that do not concern conversion: {' '.join(unknown)}")
    preset = PRESETS.get(getattr(args, "model_name", None) or "")
    if preset:
        args.num_attention_heads = args.num_attention_heads or preset["heads"]
        for key, value in preset.items():
            if key != "heads":
                setattr(args, key, value)
    return args


def tokenizer_config(args: argparse.Namespace) -> TokenizerConfig | None:
    """The tokenizer the flags describe; None without --tokenizer-type."""
    if args.tokenizer_type is None:
        return None
    return TokenizerConfig(
        tokenizer_type=args.tokenizer_type,
        tokenizer_model_type=args.tokenizer_model_type,
        tokenizer_path=args.tokenizer_path,
        task_mask=args.task_mask,
        fix_command_token=args.fix_command_token,
        block_mask=args.block_mask_prob > 0 or args.context_mask_ratio > 0,
        make_vocab_size_divisible_by=args.make_vocab_size_divisible_by,
    )


def expected_shapes(args: argparse.Namespace) -> dict[str, int]:
    """The shape flags given, keyed by config field (checked against the checkpoint)."""
    given = {field: getattr(args, flag) for flag, field in _SHAPE_FLAGS.items()}
    return {field: value for field, value in given.items() if value is not None}
