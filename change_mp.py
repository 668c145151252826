"""Reshard a GLM checkpoint to another model-parallel size, or consolidate a ZeRO checkpoint.

Usage:
    python change_mp.py CHECKPOINT TARGET_MP                 # writes CHECKPOINT_MP<TARGET_MP>
    python change_mp.py CHECKPOINT TARGET_MP --out DIR
    python change_mp.py CHECKPOINT TARGET_MP --safetensors   # shards as .safetensors
    python change_mp.py --from-zero RUN_DIR [TARGET_MP] [--out DIR] [--dtype fp16]

CHECKPOINT is a folder with latest_checkpointed_iteration.txt (or DeepSpeed's ``latest``) and
``<tag>/mp_rank_XX_model_states.pt``, or a tag folder itself; any tag works, ``release``
included. The output has the same tag, both tracker files, and is written atomically; the
source is never modified.

``--from-zero`` reads a DeepSpeed ZeRO stage 1-3 training checkpoint (the fp32 master weights
in its ``*_optim_states.pt`` files, any data-parallel size) and writes a release checkpoint
(tag ``release``, default folder RUN_DIR_release) at TARGET_MP ranks (default 1).
"""

from __future__ import annotations

import argparse
import sys

from common.errors import exit_on_bad_input


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("checkpoint", help="checkpoint folder (or tag folder) to read")
    parser.add_argument(
        "target_mp",
        type=int,
        nargs="?",
        help="model-parallel size to write (default 1 with --from-zero, required otherwise)",
    )
    parser.add_argument("--out", help="output folder (must not exist)")
    parser.add_argument("--safetensors", action="store_true", help="write .safetensors shards")
    parser.add_argument(
        "--from-zero", action="store_true", help="consolidate a DeepSpeed ZeRO checkpoint"
    )
    parser.add_argument("--tag", help="with --from-zero: the tag to read (default: latest)")
    parser.add_argument(
        "--dtype",
        choices=("fp32", "fp16", "bf16"),
        default="fp32",
        help="with --from-zero: dtype of the written weights (default fp32, the master copy)",
    )
    parser.add_argument(
        "--num-attention-heads", type=int, help="check that the heads divide TARGET_MP"
    )
    parser.add_argument(
        "--no-verify-checkpoint",
        action="store_true",
        help="skip the SHA-256 pass over the source shards (huge files; sizes are still checked)",
    )
    args = parser.parse_args(argv)
    if args.target_mp is None and not args.from_zero:
        parser.error("TARGET_MP is required (e.g. `python change_mp.py ckpt 2`)")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    with exit_on_bad_input("change_mp.py"):
        if args.from_zero:
            from interop.zero import consolidate_zero_folder

            result = consolidate_zero_folder(
                args.checkpoint,
                out=args.out,
                tag=args.tag,
                target_mp=args.target_mp or 1,
                dtype=args.dtype,
                safetensors=args.safetensors,
            )
            print(f"wrote release checkpoint at MP={result.target_mp} to {result.out}")
            return 0
        from checkpoint_io import locate_checkpoint
        from interop.reshard import reshard_folder

        current = locate_checkpoint(args.checkpoint).num_shards
        if current == args.target_mp and not args.safetensors and args.out is None:
            print(f"{args.checkpoint} is already at model-parallel size {current}: nothing to do")
            return 0
        result = reshard_folder(
            args.checkpoint,
            args.target_mp,
            out=args.out,
            safetensors=args.safetensors,
            num_attention_heads=args.num_attention_heads,
            verify=not args.no_verify_checkpoint,
        )
    print(
        f"resharded tag {result.tag!r} from MP={result.source_mp} to MP={result.target_mp}: "
        f"{result.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
