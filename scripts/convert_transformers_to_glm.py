"""Convert a Hugging Face GLM folder (THUDM glm layout) to a GLM release checkpoint.

Usage:
    python scripts/convert_transformers_to_glm.py HF_DIR --out CHECKPOINT [--mp N] \
        [--safetensors] [--dtype fp16] [tokenizer flags]

HF_DIR holds config.json and model.safetensors or pytorch_model.bin (sharded or not). The
output is <out>/latest_checkpointed_iteration.txt ("release") and
<out>/release/mp_rank_XX_model_states.pt at model-parallel size N; the model flags to run it
with are printed. Give the tokenizer flags you will run with to check the vocabulary; for a
Chinese model without --fix-command-token (the GLM-10B-Chinese setting, whose [gMASK] shares
id 50007 with <|endofpiece|>) the command-token rows are moved back to those ids.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import exit_on_bad_input  # noqa: E402
from interop.cli import add_model_flags, parse_with_model_flags, tokenizer_config  # noqa: E402
from interop.hf_import import import_from_hf  # noqa: E402


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("hf_dir", help="Hugging Face model folder")
    parser.add_argument("--out", required=True, help="checkpoint folder to write (must not exist)")
    parser.add_argument("--mp", "--model-parallel-size", type=int, default=1, dest="mp")
    parser.add_argument("--safetensors", action="store_true", help="write .safetensors shards")
    parser.add_argument("--dtype", choices=("fp32", "fp16", "bf16"), help="cast the weights")
    add_model_flags(parser)
    return parse_with_model_flags(parser, argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    tokenizer = tokenizer_config(args)
    with exit_on_bad_input("convert_transformers_to_glm.py"):
        result = import_from_hf(
            args.hf_dir,
            args.out,
            model_parallel_size=args.mp,
            tokenizer_config=tokenizer,
            dtype=args.dtype,
            safetensors=args.safetensors,
        )
    print(f"wrote release checkpoint at MP={result.model_parallel_size} to {result.out}")
    print(f"model flags: {result.flags}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
