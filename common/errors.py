"""The one way an entry point reports bad input: ``<prog>: error: <message>``, exit status 2.

Bad input (a missing file or folder, a flag, file or checkpoint that does not fit) is raised as
``ValueError`` or ``OSError`` with a message that names the file or flag and says what to do.
Entry points wrap their ``main`` in ``exit_on_bad_input`` so the user sees that line, as argparse
prints its own errors, instead of a traceback. ``GLM_TRACEBACK=1`` re-raises for debugging.

A failed write (disk full, permission denied, a missing folder) is bad input too: code that
writes wraps the write in ``reporting_write_errors``, which turns the bare ``[Errno 28] No space
left on device`` into a line naming what was being written, where, and what to do.
"""

from __future__ import annotations

import errno
import os
import shutil
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_ELSEWHERE = "free some space there or write elsewhere"
_WRITE_FIXES = {
    errno.ENOSPC: _ELSEWHERE,
    errno.EDQUOT: "your disk quota is used up: " + _ELSEWHERE,
    errno.EFBIG: "the file is larger than this filesystem or `ulimit -f` allows: write elsewhere",
    errno.EACCES: "fix the folder's permissions or write elsewhere",
    errno.EPERM: "fix the folder's permissions or write elsewhere",
    errno.EROFS: "the filesystem is read-only: write elsewhere",
    errno.ENOENT: "create the folder first",
    errno.ENOTDIR: "a part of the path is a file, not a folder: choose another path",
}
# torch.save on a path reports a failed write as a RuntimeError without an errno.
_TORCH_WRITE_FAILURES = ("file write failed", "unexpected pos", "failed writing file")
_LOW_SPACE = 16 << 20  # bytes: below this, a torch write failure is a full disk


class WriteError(OSError):
    """A write that failed; the message names the file and the fix."""

    def __init__(self, code: int | None, message: str) -> None:
        super().__init__(message)
        self.errno = code


@contextmanager
def exit_on_bad_input(prog: str) -> Iterator[None]:
    try:
        yield
    except (ValueError, OSError) as error:
        if os.environ.get("GLM_TRACEBACK"):
            raise
        message = " ".join(str(error).split("\n")) or type(error).__name__
        print(f"{prog}: error: {message} (GLM_TRACEBACK=1 shows where)", file=sys.stderr)
        raise SystemExit(2) from None


def _free_bytes(path: Path) -> int | None:
    for folder in (path, *path.parents):
        if folder.exists():
            return shutil.disk_usage(folder).free
    return None


def _write_errno(error: BaseException, path: Path) -> int | None:
    """The errno of a failed write, or None when ``error`` is not one."""
    if isinstance(error, OSError) and error.errno in _WRITE_FIXES:
        return error.errno
    if isinstance(error, RuntimeError) and any(s in str(error) for s in _TORCH_WRITE_FAILURES):
        free = _free_bytes(path)
        return errno.ENOSPC if free is not None and free < _LOW_SPACE else errno.EIO
    return None


@contextmanager
def reporting_write_errors(path: str | Path, what: str) -> Iterator[None]:
    """Turn a failed write of ``what`` at ``path`` into a ``WriteError`` naming both and the fix.

    Whoever writes must still clean up (atomic writes do): this only words the error.
    """
    try:
        yield
    except WriteError:
        raise
    except (OSError, RuntimeError) as error:
        code = _write_errno(error, Path(path))
        if code is None:
            raise
        reason = os.strerror(code)
        fix = _WRITE_FIXES.get(code, "check the disk and write elsewhere")
        if code == errno.EIO:
            reason = f"{reason} ({error})"
        raise WriteError(code, f"cannot write {what} {path}: {reason}: {fix}") from error
