"""Task file I/O shared by every task family: reading data files, writing results.

Reading: a missing file, an empty file, a line that is not JSON or a record without a field the
task needs is a ``DataError`` (a ``ValueError``) or ``FileNotFoundError`` whose one-line message
names the file, the line and the field, e.g.
``train.jsonl:7: field 'label' is 'maybe', expected one of entailment, not_entailment``.

Writing: prediction files, hypothesis files and ``results.json`` are written by global rank 0
only, atomically (a reader never sees half a file).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from common.atomic import atomic_write_text
from mpu import is_rank_0


class DataError(ValueError):
    """A task data file that cannot be read; the message names file, line and field."""


def existing_file(path: str | Path, what: str) -> Path:
    """``path`` as a Path; FileNotFoundError naming ``what`` it should hold if it is missing."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{what} file {path} does not exist: check --data-dir / paths")
    return path


def decode_utf8(data: bytes, path: Path, first_line: int = 1) -> str:
    """``data`` as text; bytes that are not UTF-8 are a ``DataError`` naming the file and line."""
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = first_line + data.count(b"\n", 0, error.start)
        raise DataError(
            f"{path}:{line}: not UTF-8 text (byte {data[error.start]:#04x}): task files must be "
            f"UTF-8; convert it, e.g. iconv -f latin1 -t utf-8 {path.name} > {path.stem}.utf8"
        ) from None


def read_text(path: str | Path, what: str) -> str:
    """The whole file; an error if it is missing, not UTF-8 or holds only whitespace."""
    path = existing_file(path, what)
    text = decode_utf8(path.read_bytes(), path)
    if not text.strip():
        raise DataError(f"{path} is empty: expected {what}")
    return text


def read_lines(path: str | Path, what: str) -> list[str]:
    """The lines of a text file (newlines stripped); an error if the file is empty."""
    return read_text(path, what).rstrip("\n").split("\n")


def read_json(path: str | Path, what: str) -> Any:
    """A whole-file JSON document; invalid JSON names the file and line."""
    text = read_text(path, what)
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise DataError(
            f"{path}:{error.lineno}: not valid JSON ({error.msg}): expected {what}"
        ) from None


def _kind(kind) -> str:
    kinds = kind if isinstance(kind, tuple) else (kind,)
    return " or ".join(
        {str: "a string", int: "an integer", list: "a list", dict: "an object"}.get(k, k.__name__)
        for k in kinds
    )


class Record:
    """One parsed line of a data file, whose accessors name the file, line and field on error.

    ``prefix`` names where a nested record sits in its line (``"passage.questions[2]."``), so
    errors about its fields name the full path."""

    def __init__(self, data: Any, path: Path, line: int, prefix: str = ""):
        if not isinstance(data, dict):
            where = f"field '{prefix.rstrip('.')}' " if prefix else ""
            raise DataError(
                f"{path}:{line}: {where}expected a JSON object, got {type(data).__name__}"
            )
        self.data, self.path, self.line, self.prefix = data, path, line, prefix

    def where(self) -> str:
        return f"{self.path}:{self.line}"

    def nested(self, data: Any, *keys: str | int) -> Record:
        """The record ``data`` found at ``keys`` below this one (its errors name that path)."""
        path = "".join(f"[{k}]" if isinstance(k, int) else f".{k}" for k in keys)
        return Record(data, self.path, self.line, f"{self.prefix}{path.lstrip('.')}.")

    def get(self, *keys: str, kind: type | tuple[type, ...] = object, default: Any = ...) -> Any:
        """``data[k1][k2]...``; a missing key (without a default) or wrong type is an error."""
        value: Any = self.data
        for depth, key in enumerate(keys):
            if not isinstance(value, dict) or key not in value:
                if default is not ...:
                    return default
                name = ".".join(keys[: depth + 1])
                raise DataError(f"{self.where()}: missing field '{self.prefix}{name}'")
            value = value[key]
        if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
            raise DataError(
                f"{self.where()}: field '{self.prefix}{'.'.join(keys)}' is {value!r}, "
                f"expected {_kind(kind)}"
            )
        return value

    def label(
        self,
        labels: tuple[str, ...],
        key: str = "label",
        lower: bool = False,
        required: bool = False,
    ) -> str | None:
        """The label as a string from ``labels``; None when the record has none, which only
        unlabelled (test) data may (``required`` is then False)."""
        if key not in self.data:
            if required:
                raise DataError(
                    f"{self.where()}: missing field '{self.prefix}{key}': {NEEDS_LABEL}"
                )
            return None
        label = str(self.data[key])
        label = label.lower() if lower else label
        if label not in labels:
            raise DataError(
                f"{self.where()}: field '{self.prefix}{key}' is {self.data[key]!r}, "
                f"expected one of {', '.join(labels)}"
            )
        return label


NEEDS_LABEL = "train and dev examples need their label (only test data may go without)"


def label_required(split: str) -> bool:
    """Whether every example of ``split`` must carry its label: train and dev are scored or
    trained on; test data may be unlabelled (then it has no metrics)."""
    return split != "test"


def read_jsonl(path: str | Path, what: str = "task data") -> Iterator[Record]:
    """Records of a JSON-lines file (blank lines skipped); an empty file is an error."""
    path = existing_file(path, what)
    count = 0
    with path.open("rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            line = decode_utf8(raw, path, line_number)
            if not line.strip():
                continue
            try:
                data = json.loads(line)
            except json.JSONDecodeError as error:
                raise DataError(f"{path}:{line_number}: not valid JSON ({error.msg})") from None
            count += 1
            yield Record(data, path, line_number)
    if count == 0:
        raise DataError(
            f"{path} is empty: the file is empty, expected one JSON object per line ({what})"
        )


def require_field(record: dict, field: str, kind: type, where: str) -> object:
    """``record[field]``, which must exist and be a ``kind``; ``where`` is "file:line"."""
    if field not in record:
        raise DataError(f"{where}: missing field {field!r}")
    value = record[field]
    if not isinstance(value, kind):
        raise DataError(
            f"{where}: field {field!r} must be {kind.__name__}, got {type(value).__name__}"
        )
    return value


def write_jsonl(path: Path, records: list[dict]) -> None:
    """One JSON object per line (global rank 0 only)."""
    if is_rank_0():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records))


def write_lines(path: Path, lines: list[str]) -> None:
    """One text per line, inner newlines folded to spaces (global rank 0 only)."""
    if is_rank_0():
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, "".join(" ".join(line.split("\n")) + "\n" for line in lines))


def write_results(path: Path, results: dict) -> None:
    """``results`` as indented JSON at ``path`` (global rank 0 only)."""
    if is_rank_0():
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps(results, indent=2, sort_keys=False) + "\n")


def check_results_absent(log_dir: Path, overwrite: bool, resuming: bool) -> None:
    """Refuse to redo a finished run unless ``--overwrite`` (or ``--load`` to resume)."""
    done = Path(log_dir) / "test_results.json"
    if done.exists() and not (overwrite or resuming):
        raise FileExistsError(
            f"{done} exists: this run finished already; pass --overwrite to run it again"
        )
