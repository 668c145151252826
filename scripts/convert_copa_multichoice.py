"""Convert COPA (SuperGLUE JSON lines) to the zero-shot multichoice format of
``--task multichoice``: ``{"inputs_pretokenized", "choices_pretokenized", "label"}``.

Usage: python scripts/convert_copa_multichoice.py COPA/val.jsonl copa_multichoice.jsonl
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.atomic import atomic_write_text  # noqa: E402
from common.errors import exit_on_bad_input  # noqa: E402
from common.paths import check_not_an_input, check_output_file  # noqa: E402
from tasks.superglue.multichoice import copa_to_multichoice  # noqa: E402
from tasks.task_io import read_jsonl  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="COPA .jsonl file")
    parser.add_argument("target", type=Path, help="output multichoice .jsonl file")
    args = parser.parse_args(argv)
    with exit_on_bad_input("convert_copa_multichoice.py"):
        count = convert(args.source, args.target)
    print(f"wrote {count} examples to {args.target}")


def convert(source: Path, target: Path) -> int:
    """Write ``target`` from the COPA file ``source``; returns the number of examples."""
    if not source.is_file():
        raise FileNotFoundError(f"{source} does not exist: give a COPA .jsonl file")
    check_not_an_input(("the target", target), [("the source", source)])
    check_output_file(target, "the target")
    records = [
        copa_to_multichoice(
            {k: rec.get(k) for k in ("premise", "choice1", "choice2", "question", "label")}
        )
        for rec in read_jsonl(source)
    ]
    atomic_write_text(target, "".join(json.dumps(r) + "\n" for r in records))
    return len(records)


if __name__ == "__main__":
    main()
