"""A writer killed mid-write leaves a temporary; the next tool writing there removes it.

(Training saves stage in ``<save>/.incomplete``, which the next save clears; this covers the
tools that write through ``common.atomic.atomic_folder``.)

The writer here is a process that opens the same atomic folder the tools write through and is
then killed with SIGKILL (no cleanup runs), exactly as a killed preprocessing run or save would
leave its ``.<name>.tmp-<pid>`` folder. The next run of the tool removes it with one line, and
leaves a live process's temporary and everything else alone.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KILLED_WRITER = """
import os, signal, sys
from common.atomic import atomic_folder
with atomic_folder(sys.argv[1]) as tmp:
    (tmp / "tokens.bin").write_bytes(b"half a store")
    os.kill(os.getpid(), signal.SIGKILL)
"""


def _killed_writer(out: Path) -> Path:
    """Run a writer of ``out`` that is SIGKILLed mid-write; its leftover temporary."""
    done = subprocess.run(
        [sys.executable, "-c", KILLED_WRITER, str(out)], cwd=REPO, env={**os.environ}
    )
    assert done.returncode == -signal.SIGKILL
    (leftover,) = [p for p in out.parent.iterdir() if p.name.startswith(f".{out.name}.tmp-")]
    return leftover


def test_preprocess_removes_a_killed_runs_temporary(tmp_path, vocab_dir, shared_dir):
    leftover = _killed_writer(tmp_path / "wiki.store")
    live = tmp_path / f".other.tmp-{os.getpid()}"  # a running process's: must stay
    live.mkdir()
    (tmp_path / "corpus.txt").write_text("Call me Ishmael. Some years ago I went to sea.\n")
    done = subprocess.run(
        [
            sys.executable,
            "scripts/preprocess_data.py",
            "--input",
            str(tmp_path / "corpus.txt"),
            "--output",
            str(tmp_path / "wiki.store"),
            "--tokenizer-type",
            "BertWordPieceTokenizer",
            "--tokenizer-model-type",
            "bert-base-uncased",
            "--tokenizer-path",
            str(vocab_dir),
            "--sentence-splitter",
            "tokens",
            "--no-progress",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        env={**os.environ, "NLTK_DATA": str(shared_dir / "nltk_data")},
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert not leftover.exists()
    assert f"removed {leftover}" in done.stderr
    assert live.is_dir()
    assert (tmp_path / "wiki.store/header.json").is_file()
