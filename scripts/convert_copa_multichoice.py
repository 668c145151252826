"""Convert COPA (SuperGLUE JSON lines) to the zero-shot multichoice format of
``--task multichoice``: ``{"inputs_pretokenized", "choices_pretokenized", "label"}``.

Usage: python scripts/convert_copa_multichoice.py COPA/val.jsonl copa_multichoice.jsonl
"""

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import exit_on_bad_input  # noqa: E402
from common.paths import check_not_an_input  # noqa: E402
from tasks.superglue.multichoice import copa_to_multichoice  # noqa: E402
from tasks.task_io import read_jsonl  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", type=Path, help="COPA .jsonl file")
    parser.add_argument("target", type=Path, help="output multichoice .jsonl file")
    args = parser.parse_args()
    with exit_on_bad_input("convert_copa_multichoice.py"):
        check_not_an_input(("target", args.target), [("source", args.source)])
        records = [
            copa_to_multichoice(
                {k: rec.get(k) for k in ("premise", "choice1", "choice2", "question", "label")}
            )
            for rec in read_jsonl(args.source)
        ]
        args.target.parent.mkdir(parents=True, exist_ok=True)
        args.target.write_text("".join(json.dumps(r) + "\n" for r in records))
    print(f"wrote {len(records)} examples to {args.target}")


if __name__ == "__main__":
    main()
