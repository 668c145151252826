"""Run entry points as child processes forked from one interpreter that has imported them.

Starting Python and importing torch and DeepSpeed costs seconds per process, and the bad-input
table runs dozens of entry-point invocations. This server imports the entry points once, then
forks one child per request: the child runs the script file as ``__main__`` (``runpy``) with
its own argv, working folder, environment, stdin and output files, and its exit status (or the
signal that killed it) comes back as is. What the child does, the real command would do: the
script's own ``if __name__ == "__main__"`` block runs, and a traceback is printed as Python
prints it.

Protocol: one JSON request per line on stdin ``{"script", "args", "cwd", "env", "timeout"}``,
one JSON reply per line on stdout ``{"rc", "stdout", "stderr", "seconds"}``. ``rc`` is
negative (minus the signal number) for a child killed by a signal.
"""

from __future__ import annotations

import atexit
import io
import json
import os
import runpy
import shutil
import signal
import sys
import tempfile
import time
import traceback
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PRELOAD = (
    "pretrain_glm",
    "finetune_glm",
    "generate_samples",
    "change_mp",
    "data_utils.preprocess",
    "interop.hf_export",
    "interop.hf_import",
)


def _child(request: dict, out: str, err: str) -> None:
    """In the forked child: set up the process as the command would have it, run, exit."""
    code = 1
    try:
        os.chdir(request.get("cwd") or REPO)
        for key, value in (request.get("env") or {}).items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        stdin = os.open(request.get("stdin") or os.devnull, os.O_RDONLY)
        os.dup2(stdin, 0)
        for fd, path in ((1, out), (2, err)):
            os.dup2(os.open(path, os.O_WRONLY | os.O_TRUNC), fd)
        sys.stdin = io.TextIOWrapper(open(0, "rb", closefd=False))  # noqa: SIM115
        sys.stdout = open(1, "w", closefd=False, buffering=1)  # noqa: SIM115
        sys.stderr = open(2, "w", closefd=False, buffering=1)  # noqa: SIM115
        script = str(REPO / request["script"])
        sys.argv = [script, *request["args"]]
        try:
            runpy.run_path(script, run_name="__main__")
            code = 0
        except SystemExit as done:
            if done.code is None or isinstance(done.code, int):
                code = done.code or 0
            else:
                print(done.code, file=sys.stderr)
        except BaseException:  # noqa: BLE001 - reported as the interpreter would
            traceback.print_exc()
        atexit._run_exitfuncs()
        sys.stdout.flush()
        sys.stderr.flush()
    finally:
        os._exit(code)


def _wait(pid: int, timeout: float) -> int:
    deadline = time.monotonic() + timeout
    while True:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            return os.waitstatus_to_exitcode(status)
        if time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            return 124
        time.sleep(0.005)


def run(request: dict, scratch: Path) -> dict:
    out, err = scratch / "stdout", scratch / "stderr"
    out.write_bytes(b"")
    err.write_bytes(b"")
    sys.stdout.flush()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        _child(request, str(out), str(err))
    rc = _wait(pid, request.get("timeout", 120))
    return {
        "rc": rc,
        "stdout": out.read_text(errors="replace"),
        "stderr": err.read_text(errors="replace"),
        "seconds": time.perf_counter() - start,
    }


def main() -> None:
    sys.path.insert(0, str(REPO))
    for name in PRELOAD:
        __import__(name)
    print(json.dumps({"ready": True}), flush=True)
    # Not a TemporaryDirectory: its exit hook would run in every child (children run the exit
    # hooks, as the command would).
    scratch = Path(tempfile.mkdtemp(prefix="entry_runner-"))
    try:
        for line in sys.stdin:
            print(json.dumps(run(json.loads(line), scratch)), flush=True)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


if __name__ == "__main__":
    main()
