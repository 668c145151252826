"""Bad input ends in one line and loses nothing: the table of ``tests/bad_input_cases.py``.

Every case runs an entry point (preprocessing, pretraining, finetuning, generation,
change_mp.py, the Hugging Face export and import, the conversion scripts) as its own process on
a workspace of small good and bad inputs, and must exit with status 2, print no traceback, end
in one ``<prog>: error:`` line naming the file or flag, and leave every file of the workspace
byte-identical: no input changed, no earlier output touched, no temporary left behind.

The processes are forked from one interpreter that has imported the entry points
(``tests/entry_runner.py``): a fresh interpreter costs seconds per case in imports alone.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.bad_input_cases import CASES, Case, build_workspace

REPO = Path(__file__).resolve().parents[1]


class EntryRunner:
    """A client of ``tests/entry_runner.py``: one request, one reply, in order."""

    def __init__(self, env: dict[str, str]) -> None:
        self.process = subprocess.Popen(
            [sys.executable, str(REPO / "tests/entry_runner.py")],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            cwd=REPO,
            env=env,
        )
        ready = self.process.stdout.readline()
        if not ready:
            raise RuntimeError("tests/entry_runner.py did not start")

    def run(self, script: str, args: list[str], cwd: Path, env: dict, timeout: float = 120):
        request = {"script": script, "args": args, "cwd": str(cwd), "env": env, "timeout": timeout}
        self.process.stdin.write(json.dumps(request) + "\n")
        self.process.stdin.flush()
        return json.loads(self.process.stdout.readline())

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait(timeout=60)


def base_env(shared: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("GLM_TRACEBACK", "RANK", "WORLD_SIZE")}
    env.update(
        NLTK_DATA=str(shared / "nltk_data"),
        HF_HUB_OFFLINE="1",
        TRANSFORMERS_OFFLINE="1",
        TOKENIZERS_PARALLELISM="false",
        OMP_NUM_THREADS="1",
        PYTHONPATH=str(REPO),
    )
    return env


def tree_digest(root: Path) -> dict[str, str]:
    """Every entry below ``root``: a file's content hash, a link's target, or 'dir'."""
    digest = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            digest[key] = "link:" + os.readlink(path)
        elif path.is_dir():
            digest[key] = "dir"
        else:
            digest[key] = hashlib.sha256(path.read_bytes()).hexdigest()
    return digest


@pytest.fixture(scope="module")
def workspace(tmp_path_factory, shared_dir) -> Path:
    ws = tmp_path_factory.mktemp("bad_input")
    build_workspace(ws, shared_dir)
    return ws


@pytest.fixture(scope="module")
def runner(shared_dir):
    client = EntryRunner(base_env(shared_dir))
    yield client
    client.close()


def _fill(text: str, ws: Path, vocab: Path) -> str:
    return text.replace("{ws}", str(ws)).replace("{vocab}", str(vocab))


def run_case(runner: EntryRunner, case: Case, ws: Path, vocab: Path) -> dict:
    args = shlex.split(_fill(case.args, ws, vocab))
    env = {k: _fill(v, ws, vocab) for k, v in case.env.items()}
    return runner.run(case.script, args, Path(_fill(case.cwd, ws, vocab)), env)


def _params():
    for case in CASES:
        marks = [pytest.mark.xfail(strict=True, reason=case.xfail)] if case.xfail else []
        yield pytest.param(case, id=f"{Path(case.script).stem}-{case.id}", marks=marks)


@pytest.mark.parametrize("case", _params())
def test_bad_input_is_one_line_and_changes_nothing(case, runner, workspace, vocab_dir):
    before = tree_digest(workspace)
    result = run_case(runner, case, workspace, vocab_dir)
    stderr = result["stderr"]
    assert "Traceback" not in stderr, stderr[-3000:]
    assert result["rc"] == 2, (result["rc"], stderr[-2000:], result["stdout"][-1000:])
    last = stderr.strip().splitlines()[-1]
    assert last.startswith(f"{Path(case.script).name}: error: "), last
    for name in case.names:
        assert _fill(name, workspace, vocab_dir) in last, (name, last)
    assert tree_digest(workspace) == before
