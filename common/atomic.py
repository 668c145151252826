"""Atomic writes: a reader (or a crash) sees the old content or the new, never half of it.

Every write goes to a hidden temporary beside its destination, ``.<name>.tmp-<pid>[-<suffix>]``,
is flushed to disk, then renamed into place (``os.replace`` is atomic within a filesystem). The
process id in the name lets a later run tell a temporary of a dead process from one still being
written: ``remove_stale_temporaries`` deletes only the former.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

_TEMP_NAME = re.compile(r"^\.(?P<name>.+)\.tmp-(?P<pid>\d+)(-.*)?$")


def temporary_name(path: Path) -> Path:
    """The temporary a write of ``path`` by this process goes through."""
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (a no-op where directories cannot be opened)."""
    with contextlib.suppress(OSError):
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def fsync_tree(folder: str | Path, select: Callable[[Path], bool] | None = None) -> None:
    """Flush the files under ``folder`` (those ``select`` picks; all by default) and the
    folders themselves to disk, e.g. files a library wrote before the folder is renamed into
    place: a rename can reach the disk before the data it names, so a power cut could leave
    complete-looking empty files."""
    folder = Path(folder)
    for path in sorted(folder.rglob("*"), reverse=True):
        if path.is_file() and not path.is_symlink():
            if select is None or select(path):
                with open(path, "rb") as handle:
                    os.fsync(handle.fileno())
        elif path.is_dir():
            _fsync_dir(path)
    _fsync_dir(folder)


def atomic_write(path: str | Path, write: Callable[[BinaryIO], None]) -> Path:
    """Create ``path`` through ``write(handle)`` on a temporary file, fsync it, rename it."""
    path = Path(path)
    tmp = temporary_name(path)
    try:
        with open(tmp, "wb") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)
    return path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """``path`` holds ``text`` (UTF-8), written atomically."""
    return atomic_write(path, lambda handle: handle.write(text.encode("utf-8")))


@contextlib.contextmanager
def atomic_folder(out: str | Path, replace: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes ``out`` when the block ends without error.

    ``out`` must not exist unless ``replace`` (then the old folder is removed only once the new
    one is complete). On any error the temporary folder is removed and ``out`` is untouched.
    """
    out = Path(out)
    if out.exists() and not replace:
        raise FileExistsError(f"output folder {out} already exists: remove it or choose another")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-{os.getpid()}-", dir=out.parent))
    try:
        yield tmp
        publish_folder(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def publish_folder(complete: Path, out: Path) -> None:
    """Rename the finished folder ``complete`` to ``out``, replacing an older ``out`` only
    once the new one is in place (a crash in between leaves the old one, renamed aside)."""
    if out.exists():
        old = out.with_name(f".{out.name}.tmp-{os.getpid()}-old")
        os.replace(out, old)
        os.replace(complete, out)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(complete, out)
    _fsync_dir(out.parent)


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale_temporaries(folder: str | Path) -> list[Path]:
    """Delete the temporaries in ``folder`` whose writing process is gone; returns them."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    removed = []
    for entry in folder.iterdir():
        match = _TEMP_NAME.match(entry.name)
        if match is None or _alive(int(match["pid"])):
            continue
        if entry.is_dir() and not entry.is_symlink():
            shutil.rmtree(entry, ignore_errors=True)
        else:
            entry.unlink(missing_ok=True)
        removed.append(entry)
    return removed
