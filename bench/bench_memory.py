"""The memory planner against measured CPU runs: predicted and measured peak memory per process.

    python bench/bench_memory.py                 # every case of tests/memory_probe.py
    python bench/bench_memory.py --cases fp32-zero0 bf16-zero2

Each case trains for two optimizer steps in fresh processes (tests/memory_probe.py) and reports
the peak RSS over the baseline twice: with glibc mapping every block over 64 KiB on its own
(the RSS follows the live tensors: what the planner predicts and tests/test_memory_measured.py
checks within 15%) and with glibc's defaults (what a plain CPU run shows: freed blocks under
the dynamic mmap threshold stay in the heap). Ratios are measured / predicted.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.memory_probe import CASES, SCORED, SHAPE, measure, predicted_peak  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--steps", type=int, default=2)
    options = parser.parse_args()
    header = f"{'case':26}{'predicted':>10}{'tracked':>10}{'ratio':>7}{'glibc':>10}{'ratio':>7}"
    print(header + "   (MiB per process)")
    for case in options.cases:
        extra, world = CASES[case]
        argv = SHAPE + extra
        predicted, vocab = predicted_peak(argv, world)
        start = time.perf_counter()
        tracked = max(measure(argv, vocab, SCORED, options.steps, world))
        plain = max(measure(argv, vocab, SCORED, options.steps, world, plain_malloc=True))
        mib = 2**20
        print(
            f"{case:26}{predicted / mib:10.0f}{tracked / mib:10.0f}{tracked / predicted:7.3f}"
            f"{plain / mib:10.0f}{plain / predicted:7.3f}   ({time.perf_counter() - start:.0f} s)",
            flush=True,
        )


if __name__ == "__main__":
    main()
