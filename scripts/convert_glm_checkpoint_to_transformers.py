"""Convert a GLM checkpoint (any model-parallel size) to a Hugging Face model folder.

Usage:
    python scripts/convert_glm_checkpoint_to_transformers.py CHECKPOINT [MODEL_NAME] \
        --tokenizer-path VOCAB_DIR --out HF_DIR [--safetensors] [--dtype fp16] [flags]

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
        )
    print(f"wrote Hugging Face folder {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
