"""Train a byte-level BPE for `--tokenizer-type ByteBPETokenizer` on your own text.

Usage: python scripts/train_tokenizer.py --input a.txt b.txt --vocab-size 32000 --out my_tokenizer

Writes my_tokenizer/tokenizer.json; pass `--tokenizer-type ByteBPETokenizer --tokenizer-path
my_tokenizer` to pretraining. GLM's command tokens ([MASK], [gMASK], <|startofpiece|>, ...) are
appended after the text vocabulary when the tokenizer is loaded.
"""

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a file from anywhere

from common.errors import exit_on_bad_input  # noqa: E402
from common.paths import check_not_an_input  # noqa: E402
from data_utils.tokenization import train_byte_bpe  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", nargs="+", required=True, help="plain-text training files")
    parser.add_argument("--vocab-size", type=int, required=True, help="text tokens to learn")
    parser.add_argument("--out", required=True, help="folder to write tokenizer.json into")
    args = parser.parse_args(argv)
    with exit_on_bad_input("train_tokenizer.py"):
        out = Path(args.out) / "tokenizer.json"
        check_not_an_input(("--out", out), [("--input", path) for path in args.input])
        train_byte_bpe(args.input, args.vocab_size, args.out)
    print(f"wrote {Path(args.out) / 'tokenizer.json'}")


if __name__ == "__main__":
    main()
