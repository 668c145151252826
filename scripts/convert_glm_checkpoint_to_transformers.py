"""Convert a GLM checkpoint (any model-parallel size) to a Hugging Face model folder.

Usage:
    python scripts/convert_glm_checkpoint_to_transformers.py CHECKPOINT [MODEL_NAME] \
        --tokenizer-path VOCAB_DIR --out HF_DIR [--safetensors] [--dtype fp16] [flags]

The checkpoint is read and the folder written one group of tensors at a time, so memory stays
far below the checkpoint's size (a safetensors file is written whole: --max-shard-size bounds
it).

CHECKPOINT is a checkpoint folder, a tag folder or one of its mp_rank_XX_model_states.pt files
(every shard of the tag is merged). The head count and tokenizer come from the run
configuration our training saves with a checkpoint; for other checkpoints give MODEL_NAME,
one of the released models (glm-large, glm-515m, glm-roberta-large, glm-large-chinese,
glm-2b, glm-10b, glm-10b-chinese), or the flags, e.g. those of a config_tasks/model_*.sh file:

    source config_tasks/model_blocklm_10B.sh
    python scripts/convert_glm_checkpoint_to_transformers.py ckpt/glm-10b $MODEL_ARGS \
        --tokenizer-path vocab/ --out glm-10b-hf

The folder loads offline with AutoTokenizer / AutoModelForSeq2SeqLM /
AutoModelForMultipleChoice and trust_remote_code=True. For GLM-10B-Chinese the Hugging Face
tokenizer gives [gMASK] its own id 50009 and the embedding row 50007 is copied there.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import exit_on_bad_input  # noqa: E402
from interop.cli import (  # noqa: E402
    PRESETS,
    add_model_flags,
    expected_shapes,
    parse_with_model_flags,
    tokenizer_config,
)
from interop.hf_export import export_to_hf  # noqa: E402


def shard_size(text: str) -> int:
    """``2GB``, ``500MB``, ``100KB`` or a number of bytes."""
    units = {"KB": 1 << 10, "MB": 1 << 20, "GB": 1 << 30}
    try:
        unit = next((u for u in units if text.upper().endswith(u)), None)
        value = float(text[: -len(unit)]) * units[unit] if unit else float(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 2GB or 500MB") from error
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: the size must be positive")
    return int(value)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", help="checkpoint folder, tag folder or mp_rank file")
    parser.add_argument("model_name", nargs="?", choices=sorted(PRESETS), help="released model")
    parser.add_argument("--out", help="output folder (default: <checkpoint>_hf)")
    parser.add_argument("--safetensors", action="store_true", help="write model.safetensors")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="cast the weights")
    parser.add_argument(
        "--max-shard-size",
        type=shard_size,
        default="2GB",
        help="with --safetensors: split larger weights into files of this size (default 2GB)",
    )
    parser.add_argument(
        "--no-verify-checkpoint",
        action="store_true",
        help="skip the SHA-256 pass over the shards (huge files; sizes are still checked)",
    )
    add_model_flags(parser)
    return parse_with_model_flags(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    checkpoint = Path(args.checkpoint)
    folder = checkpoint.parent if checkpoint.is_file() else checkpoint
    out = Path(args.out) if args.out else folder.parent / f"{folder.name}_hf"
    with exit_on_bad_input("convert_glm_checkpoint_to_transformers.py"):
        export_to_hf(
            checkpoint,
            out,
            tokenizer_config(args),
            args.num_attention_heads,
            safetensors=args.safetensors,
            dtype=args.dtype,
            expected=expected_shapes(args),
            verify=not args.no_verify_checkpoint,
            max_shard_bytes=args.max_shard_size,
        )
    print(f"wrote Hugging Face folder {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
