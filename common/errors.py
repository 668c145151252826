"""The one way an entry point reports bad input: ``<prog>: error: <message>``, exit status 2.

Bad input (a missing file or folder, a flag, file or checkpoint that does not fit) is raised as
``ValueError`` or ``OSError`` with a message that names the file or flag and says what to do.
Entry points wrap their ``main`` in ``exit_on_bad_input`` so the user sees that line, as argparse
prints its own errors, instead of a traceback. ``GLM_TRACEBACK=1`` re-raises for debugging.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager


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
