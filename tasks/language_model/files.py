"""Reading task data files with errors that name the file, the line and the field.

A missing file, an empty file, a line that is not JSON or a record without a field the task
needs is a ``ValueError``/``FileNotFoundError`` whose one-line message says where and what.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path


def existing_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path; FileNotFoundError naming ``what`` it should hold if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist: check --data-dir / paths")
    return path


def read_text(path: str | Path, what: str) -> str:
    """The whole file; an error if it is missing or holds only whitespace."""
    path = existing_file(path, what)
    text = path.read_text(encoding="utf-8")
    if not text.strip():
        raise ValueError(f"{path} is empty: expected {what}")
    return text


def read_lines(path: str | Path, what: str) -> list[str]:
    """The lines of a text file (newlines stripped); an error if the file is empty."""
    return read_text(path, what).rstrip("\n").split("\n")


def read_jsonl(path: str | Path, fields: Sequence[str], what: str) -> Iterator[tuple[int, dict]]:
    """``(line number, record)`` for every non-blank line; every record must hold ``fields``."""
    path = existing_file(path, what)
    found = False
    with path.open(encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as error:
                raise ValueError(f"{path}:{number}: not valid JSON ({error.msg})") from None
            if not isinstance(record, dict):
                raise ValueError(f"{path}:{number}: expected a JSON object, got {record!r:.40}")
            for field in fields:
                if field not in record:
                    raise ValueError(f"{path}:{number}: missing field {field!r} ({what})")
            found = True
            yield number, record
    if not found:
        raise ValueError(f"{path} is empty: expected {what}")


def require_field(record: dict, field: str, kind: type, where: str) -> object:
    """``record[field]``, which must exist and be a ``kind``; ``where`` is "file:line"."""
    if field not in record:
        raise ValueError(f"{where}: missing field {field!r}")
    value = record[field]
    if not isinstance(value, kind):
        raise ValueError(
            f"{where}: field {field!r} must be {kind.__name__}, got {type(value).__name__}"
        )
    return value
