"""Shared pytest fixtures: where the shared data lives, and skipping nothing silently.

Tests read vocab files, corpora, eval sets and reference fixtures from the shared folder beside
the checkout (``${GLM_SHARED:-../shared}``). A missing shared folder is a hard error, not a skip:
a green run must mean the parity tests ran.
"""

import os
import sys
from pathlib import Path

import pytest
import torch

REPO_ROOT = Path(__file__).resolve().parents[1]
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

# Each xdist worker gets one core: two workers with two threads each on a 2-core machine spend
# their time contending (measured 3-4x slower on the generation tests).
if os.environ.get("PYTEST_XDIST_WORKER"):
    torch.set_num_threads(1)


def _shared_dir() -> Path:
    path = Path(os.environ.get("GLM_SHARED", REPO_ROOT.parent / "shared")).resolve()
    if not (path / "fixtures" / "reference").is_dir():
        raise pytest.UsageError(
            f"shared data folder not found at {path}: set GLM_SHARED to the folder holding "
            "vocab/, fixtures/, corpora/ and eval/"
        )
    return path


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    return _shared_dir()


@pytest.fixture(scope="session")
def vocab_dir(shared_dir: Path) -> Path:
    return shared_dir / "vocab"


@pytest.fixture(scope="session")
def reference_dir(shared_dir: Path) -> Path:
    return shared_dir / "fixtures" / "reference"


@pytest.fixture
def one_thread():
    """One intra-op thread: tiny models decode faster so, and CI already runs two workers on two
    cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
