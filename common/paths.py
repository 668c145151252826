"""Output paths checked before any work: never onto an input, always somewhere writable.

Entry points call these first, so a wrong path costs nothing and loses nothing. Two paths are
the same file whatever the spelling: links, ``..`` and relative paths are resolved, and two
names of one existing file (hard links) compare equal too.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

Named = tuple[str, str | Path]  # (the flag that named a path, the path)


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name one file (or folder)."""
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist (yet)
        return os.path.realpath(a) == os.path.realpath(b)


def is_within(path: str | Path, folder: str | Path) -> bool:
    """Whether ``path`` is ``folder`` or lies below it."""
    inner, outer = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return inner == outer or outer in inner.parents


def check_not_an_input(output: Named, inputs: Iterable[Named], folder: bool = False) -> None:
    """An error when writing ``output`` would overwrite an input; a ``folder`` output replaces
    the whole folder, so no input may lie inside it either."""
    flag, path = output
    for input_flag, input_path in inputs:
        clash = is_within(input_path, path) if folder else same_file(path, input_path)
        if clash:
            where = "holds" if folder and not same_file(path, input_path) else "is"
            raise ValueError(
                f"{flag} {path} {where} {input_flag} {input_path}: writing it would destroy "
                f"that input; choose another {flag}"
            )


def _nearest_existing(path: Path) -> Path:
    for ancestor in (path, *path.parents):
        if ancestor.exists():
            return ancestor
    return Path(".")


def check_writable_folder(
    folder: str | Path, flag: str, create: bool = True, given: str | Path | None = None
) -> None:
    """``folder`` exists (or, with ``create``, can be made) and can be written into; errors
    name ``flag`` and the path the user ``given`` (default: ``folder``)."""
    folder = Path(folder)
    named = f"{flag} {folder if given is None else given}"
    existing = _nearest_existing(folder.absolute())
    if not existing.is_dir():
        raise NotADirectoryError(f"{named}: {existing} is a file, not a folder")
    if existing != folder.absolute() and not create:
        raise FileNotFoundError(f"{named}: the folder {folder} does not exist: create it first")
    if not os.access(existing, os.W_OK | os.X_OK):
        raise PermissionError(
            f"{named}: cannot write in {existing} (permission denied): fix its permissions "
            f"or choose another {flag}"
        )


def check_output_file(path: str | Path, flag: str) -> None:
    """``path`` can be written as a file: its folder exists and is writable, it is no folder.

    A special file (``/dev/stdout``, a pipe) is written as it is.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"{flag} {path} is a folder: give a file name")
    if path.exists() and not path.is_file():
        return
    check_writable_folder(path.parent, flag, create=False, given=path)
