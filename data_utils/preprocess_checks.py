"""Checks preprocessing makes before and after reading its inputs.

Before: ``--output`` may be written (never over an input, never over a folder that is not a
token store) and no input is UTF-16. After reading, before the store is committed: an input
whose records are mostly not UTF-8 is in another encoding (a few such records are counted like
any bad record).
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

from common.atomic import sweep_stale_temporaries
from common.paths import check_not_an_input, check_writable_folder
from data_utils.corpora import ReaderConfig, file_format
from data_utils.token_store import check_replaceable

if TYPE_CHECKING:
    from data_utils.preprocess import PreprocessConfig, PreprocessReport

_UTF16_BOMS = (b"\xff\xfe", b"\xfe\xff")


def _is_utf16(path: Path) -> bool:
    """An uncompressed file that starts with a UTF-16 byte-order mark (its ASCII would pass as
    UTF-8 with NULs between the letters, so the records alone do not show it)."""
    if file_format(path)[1]:
        return False
    with open(path, "rb") as handle:
        return handle.read(2) in _UTF16_BOMS


def check_output(config: PreprocessConfig, sources: list[tuple[Path, ReaderConfig]]) -> None:
    """Before any work: the store may go to ``--output`` and would destroy no input; stale
    temporaries of dead runs beside it are removed."""
    output = Path(config.output)
    inputs = [("--input", path) for path, _ in sources]
    check_not_an_input(("--output", output), inputs, folder=True)
    check_replaceable(output, config.overwrite)
    check_writable_folder(output.parent, "--output", given=output)
    for path, _ in sources:
        if _is_utf16(path):
            raise ValueError(
                f"{path} is UTF-16 (it starts with a byte-order mark): convert it to UTF-8 "
                "first (e.g. `iconv -f utf-16 -t utf-8`)"
            )
    if output.parent.is_dir():
        sweep_stale_temporaries(output.parent, "preprocess_data.py")


def check_documents(report: PreprocessReport, inputs: tuple[str, ...]) -> None:
    """No document read is an error, not an empty store: the line lists why the records
    were dropped (a wrong ``--text-key`` drops them all as ``missing_key``)."""
    if report.documents:
        return
    reasons = ", ".join(f"{k} {v}" for k, v in sorted((report.bad + report.filtered).items()))
    hint = "; check --text-key" if "missing_key" in report.bad else ""
    raise ValueError(
        f"--input {' '.join(inputs)} gave no document ({reasons or 'no records'}){hint}; "
        "nothing was written"
    )


def check_encoding(report: PreprocessReport) -> None:
    """A few records that are not UTF-8 are counted like any bad record; an input where most
    are not is in another encoding, and a store of its leftovers would be silently wrong."""
    bad = [b for b in report.bad_lines if b.reason == "invalid_utf8"]
    if not bad or len(bad) < report.documents:
        return
    source = Counter(b.source for b in bad).most_common(1)[0][0]
    first = min(b.line for b in bad if b.source == source)
    raise ValueError(
        f"{source} is not UTF-8: {len(bad)} records are not UTF-8 (the first at line {first}) "
        f"against {report.documents} that are; convert it to UTF-8 first (e.g. "
        "`iconv -f latin1 -t utf-8`); nothing was written"
    )
