"""Side-by-side runs against the original GLM code, each side in a fresh process.

Every bench in this folder measures, in one invocation: the original GLM, ours, the original
again, and prints both original runs, ours and the ratio. The original runs through the shared
reference tools (``$GLM_SHARED/tools/reference/ref_bench.py``, README beside it) in their own
virtual environment; no code of the original is in this repository. Set-up, once per machine:

    export GLM_SHARED=/path/to/shared
    export GLM_REF_GIT=/path/to/GLM.git   # a clone or bare mirror of github.com/THUDM/GLM
    bash $GLM_SHARED/tools/reference/run_ref_harness.sh --setup   # venv: $REFHARNESS_VENV
                                                                   # (default /tmp/refharness/venv)

Peak RSS is that of the whole process tree of a run (``os.wait4``), taken the same way for the
original and for ours. Two-thread timings drift on shared machines: the ratio to the two
original runs around ours is the figure to read.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_VENV = "/tmp/refharness/venv"
SKIP_HINT = "or pass --skip-original to measure ours alone"


def shared_dir() -> Path:
    return Path(os.environ.get("GLM_SHARED", str(REPO_ROOT.parent / "shared")))


@dataclass(frozen=True)
class Original:
    """Where the original GLM and the tools that run it are."""

    python: Path
    tools: Path
    git: Path
    corpora: Path

    @property
    def bench_script(self) -> Path:
        return self.tools / "ref_bench.py"


def locate_original() -> Original:
    """The original's set-up, or one line saying how to make it."""
    tools = shared_dir() / "tools" / "reference"
    venv = Path(os.environ.get("REFHARNESS_VENV", DEFAULT_VENV))
    setup = (
        "export GLM_REF_GIT=<a clone or bare mirror of github.com/THUDM/GLM>, then "
        f"`bash {tools}/run_ref_harness.sh --setup` (see {tools}/README.md), {SKIP_HINT}"
    )
    if not (tools / "ref_bench.py").is_file():
        raise SystemExit(
            f"no {tools}/ref_bench.py: set GLM_SHARED to the shared folder, {SKIP_HINT}"
        )
    git = os.environ.get("GLM_REF_GIT")
    if not git or not Path(git).is_dir():
        raise SystemExit(f"the original GLM is not set up (GLM_REF_GIT={git or 'unset'}): {setup}")
    if not (venv / "bin" / "python").is_file():
        raise SystemExit(f"no virtual environment for the original at {venv}: {setup}")
    return Original(venv / "bin" / "python", tools, Path(git), shared_dir() / "corpora")


@dataclass
class Run:
    """One measured process: its label, the JSON it wrote, its peak RSS and wall time."""

    label: str
    data: dict
    peak_rss_mib: float
    wall_s: float
    output: str = field(default="", repr=False)


def run_measured(cmd: list[str], env: dict | None = None, cwd: str | None = None):
    """Run ``cmd`` to the end; (its output, peak RSS MiB of it and its children, wall seconds)."""
    start = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, env=env, cwd=cwd)
        _, status, usage = os.wait4(proc.pid, 0)  # rusage of this child alone, children included
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        text = out.read()
    if proc.returncode != 0:
        tail = "\n".join(text.splitlines()[-30:])
        raise SystemExit(
            f"{' '.join(map(str, cmd[:3]))} ... failed (exit {proc.returncode}):\n{tail}"
        )
    return text, usage.ru_maxrss / 1024.0, time.perf_counter() - start


def run_original(
    original: Original, only: str, args: list[str], reps: int, label: str, keep_tmp: bool = False
) -> Run:
    """One ``ref_bench.py --only ONLY`` run. The machine is shared: it neither waits for a quiet
    machine nor discards disturbed repetitions, as ours does not (medians of ``reps``)."""
    with tempfile.TemporaryDirectory(prefix="glm_original_") as tmp:
        out = Path(tmp) / "original.json"
        cmd = [str(original.python), str(original.bench_script), str(out), "--only", only]
        cmd += ["--reps", str(reps), "--quiet-wait", "0", "--max-foreign-pct", "100"]
        cmd += ["--no-profile", "--corpora", str(original.corpora), *args]
        cmd += ["--keep-tmp"] if keep_tmp else []
        env = dict(os.environ, GLM_REF_GIT=str(original.git))
        print(f"[{label}] original: {only} ...", file=sys.stderr, flush=True)
        text, peak, wall = run_measured(cmd, env=env)
        data = json.loads(out.read_text())
    kept = re.search(r"\] kept (\S+)", text)
    data["kept_dir"] = kept.group(1) if kept else None
    return Run(label, data, peak, wall, text)


def ours_env(threads: int) -> dict:
    """The environment the original's jobs get, for ours: thread counts and a fixed hash seed."""
    env = dict(os.environ, PYTHONHASHSEED="0", TOKENIZERS_PARALLELISM="false")
    env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.update(RAYON_NUM_THREADS=str(threads), PYTHONWARNINGS="ignore")
    return env


def run_ours(script: Path, args: list[str], threads: int, label: str) -> Run:
    """``python SCRIPT --worker OUT.json ARGS`` in a fresh process; the worker writes OUT.json."""
    with tempfile.TemporaryDirectory(prefix="glm_ours_") as tmp:
        out = Path(tmp) / "ours.json"
        print(f"[{label}] running ...", file=sys.stderr, flush=True)
        cmd = [sys.executable, str(script), "--worker", str(out), *args]
        text, peak, wall = run_measured(cmd, env=ours_env(threads), cwd=str(REPO_ROOT))
        data = json.loads(out.read_text())
    return Run(label, data, peak, wall, text)


def write_json(path: str, data: dict) -> None:
    Path(path).write_text(json.dumps(data, indent=1) + "\n")


def remove_kept(run: Run | None) -> None:
    if run is not None and run.data.get("kept_dir"):
        shutil.rmtree(run.data["kept_dir"], ignore_errors=True)


@dataclass(frozen=True)
class Metric:
    """A table row: how to read the figure from the original's and from ours' JSON.

    ``kind``: ``rate`` (higher is better), ``time`` (lower is better) or ``memory``.
    ``original`` is None where the original has no counterpart.
    """

    name: str
    unit: str
    ours: Callable[[Run], float | None]
    original: Callable[[Run], float | None] | None
    kind: str = "rate"


def peak_rss_metric() -> Metric:
    return Metric("peak RSS, process tree", "MiB", _peak, _peak, "memory")


def _peak(run: Run) -> float:
    return run.peak_rss_mib


def median(values) -> float:
    return float(statistics.median(values))


def ratio_text(metric: Metric, ours: float | None, originals: list[float]) -> str:
    """Ours against the mean of the original runs: "x faster" for speed, "x of" for memory."""
    if ours is None or not originals or not ours:
        return "-"
    base = statistics.fmean(originals)
    if metric.kind == "memory":
        return f"{ours / base:.2f}x of original"
    speedup = ours / base if metric.kind == "rate" else base / ours
    return f"{speedup:.2f}x " + ("faster" if speedup >= 1 else "(slower)")


def _cell(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:,.0f}" if abs(value) >= 100 else f"{value:.3g}"


def _value(getter, run: Run | None) -> float | None:
    if getter is None or run is None:
        return None
    try:
        return getter(run)
    except (KeyError, IndexError, TypeError):
        return None


def comparison_table(
    metrics: list[Metric], first: Run | None, ours: Run, second: Run | None
) -> list[list[str]]:
    """Rows: measurement, unit, original #1, ours, original #2, ours vs original."""
    rows = []
    for metric in metrics:
        a, b = _value(metric.original, first), _value(metric.original, second)
        mine = _value(metric.ours, ours)
        originals = [v for v in (a, b) if v is not None]
        rows.append(
            [metric.name, metric.unit, _cell(a), _cell(mine), _cell(b)]
            + [ratio_text(metric, mine, originals)]
        )
    return rows


TABLE_HEADER = ["measurement", "unit", "original #1", "ours", "original #2", "ours vs original"]


def print_table(header: list[str], rows: list[list[str]]) -> None:
    """A Markdown table, columns padded for the terminal."""
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("| " + " | ".join(str(h).ljust(w) for h, w in zip(header, widths, strict=True)) + " |")
    print("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    for row in rows:
        print("| " + " | ".join(str(c).ljust(w) for c, w in zip(row, widths, strict=True)) + " |")


def side_by_side(
    original: Callable[[str, bool], Run] | None, ours: Callable[[Run | None], Run]
) -> tuple[Run | None, Run, Run | None]:
    """Original, ours, original again. ``original(label, keep_tmp)``; ``ours(first original)``:
    ours may read what the first original run kept (e.g. the very batch it trained on)."""
    first = original("original #1", True) if original else None
    try:
        mine = ours(first)
    finally:
        remove_kept(first)
    second = original("original #2", False) if original else None
    return first, mine, second


def describe_runs(runs: list[Run | None]) -> str:
    return "; ".join(f"{r.label} {r.wall_s:.0f} s" for r in runs if r is not None)
