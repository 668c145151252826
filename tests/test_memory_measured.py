"""The memory planner against real CPU training runs: the peak RSS a run adds (measured by
tests/memory_probe.py in fresh processes) is within 15% of the planner's prediction for that
run, for ZeRO 0 and 2, fp32 and bf16, with and without activation checkpointing, with the CPU
attention kernel that dropout selects, and per rank of a 2-way data-parallel ZeRO-2 run.

The cases are those of tests/memory_probe.py (bench/bench_memory.py prints their table).
"""

import pytest

from tests.memory_probe import CASES, SCORED, SHAPE, measure, predicted_peak

TOLERANCE = 0.15


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_peak_memory_of_a_cpu_run_is_predicted(case):
    extra, world = CASES[case]
    argv = SHAPE + extra
    predicted, vocab = predicted_peak(argv, world)
    measured = measure(argv, vocab, scored_fraction=SCORED, steps=2, world=world)
    for rank, peak in enumerate(measured):
        ratio = peak / predicted
        assert abs(ratio - 1) <= TOLERANCE, (
            f"{case} rank {rank}: measured {peak / 2**20:.0f} MiB, "
            f"predicted {predicted / 2**20:.0f} MiB (ratio {ratio:.3f})"
        )
