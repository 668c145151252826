"""Convert CNN/DailyMail CSV files (``id,article,highlights``) to ``{split}.source/.target``.

Usage::

    python scripts/convert_cnndm_csv.py OUT_DIR train=train.csv val=validation.csv test=test.csv

Each article becomes one source line (whitespace collapsed); the highlight sentences (one per
line in the CSV) become one target line joined by ``--separator``: `` <S_SEP> `` (default) for
``--task cnn_dm``, which turns it into ``[SEP]`` sentence breaks for ROUGE, or ``" "`` for
``--task cnn_dm_original``.
"""

from __future__ import annotations

import argparse
import csv
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.atomic import atomic_write_text  # noqa: E402
from common.errors import exit_on_bad_input  # noqa: E402
from common.paths import check_not_an_input  # noqa: E402

FIELDS = ("article", "highlights")


def _one_line(text: str) -> str:
    return " ".join(text.split())


def convert(csv_path: Path, out_dir: Path, split: str, separator: str) -> int:
    """Write ``{split}.source`` and ``{split}.target``; returns the number of examples."""
    if not csv_path.is_file():
        raise FileNotFoundError(f"{csv_path} does not exist: give the CSV of split {split}")
    for name in (f"{split}.source", f"{split}.target"):
        check_not_an_input(("the output", out_dir / name), [(f"split {split}'s CSV", csv_path)])
    try:
        return _write(_read_rows(csv_path), csv_path, out_dir, split, separator)
    except UnicodeDecodeError as error:
        raise ValueError(
            f"{csv_path}: not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset "
            f"{error.start}): convert it, e.g. iconv -f latin1 -t utf-8"
        ) from None


def _read_rows(csv_path: Path) -> list[dict]:
    with csv_path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        missing = [f for f in FIELDS if f not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{csv_path}:1: missing column {missing[0]!r} (need {FIELDS})")
        rows = []
        for row in reader:
            for field in FIELDS:
                if not (row.get(field) or "").strip():
                    raise ValueError(f"{csv_path}:{reader.line_num}: empty field {field!r}")
            rows.append(row)
        return rows


def _write(rows: list[dict], csv_path: Path, out_dir: Path, split: str, separator: str) -> int:
    sources, targets = [], []
    for row in rows:
        sentences = [_one_line(s) for s in row["highlights"].splitlines() if s.strip()]
        sources.append(_one_line(row["article"]))
        targets.append(separator.join(sentences))
    if not sources:
        raise ValueError(f"{csv_path} is empty: expected rows of {FIELDS}")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / f"{split}.source", "\n".join(sources) + "\n")
    atomic_write_text(out_dir / f"{split}.target", "\n".join(targets) + "\n")
    return len(sources)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path)
    parser.add_argument("splits", nargs="+", help="SPLIT=CSV, e.g. train=train.csv val=dev.csv")
    parser.add_argument("--separator", default=" <S_SEP> ", help="between summary sentences")
    args = parser.parse_args(argv)
    for item in args.splits:
        split, sep, path = item.partition("=")
        if not sep or not split or not path:
            parser.error(f"{item!r} is not SPLIT=CSV (e.g. test=test.csv)")
        with exit_on_bad_input("convert_cnndm_csv.py"):
            count = convert(Path(path), args.out_dir, split, args.separator)
        print(f"{split}: {count} examples -> {args.out_dir / split}.source/.target")


if __name__ == "__main__":
    main()
