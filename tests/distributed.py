"""Run a function on several gloo processes, for tensor- and data-parallel tests on CPU.

``run_distributed(fn, world_size, tmp_path, *args)`` spawns ``world_size`` processes that join a
gloo process group through a FileStore in ``tmp_path`` and call ``fn(rank, world_size, *args)``.
``fn`` must be a module-level function (it is pickled). Whatever each rank returns is collected
and returned as a list indexed by rank; an exception on any rank fails the caller with that
rank's traceback.
"""

import os
import traceback
from pathlib import Path

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def _worker(rank, world_size, store_path, fn, args, results):
    os.environ["OMP_NUM_THREADS"] = "1"
    torch.set_num_threads(1)
    store = dist.FileStore(store_path, world_size)
    dist.init_process_group("gloo", store=store, rank=rank, world_size=world_size)
    try:
        results[rank] = ("ok", fn(rank, world_size, *args))
    except BaseException:  # noqa: BLE001 - reported to the parent with its traceback
        results[rank] = ("error", traceback.format_exc())
    finally:
        dist.destroy_process_group()


def run_distributed(fn, world_size: int, tmp_path: Path, *args):
    Path(tmp_path).mkdir(parents=True, exist_ok=True)
    store_path = str(Path(tmp_path) / f"store-{fn.__name__}-{world_size}")
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager:
        results = manager.dict()
        mp.start_processes(
            _worker,
            args=(world_size, store_path, fn, args, results),
            nprocs=world_size,
            join=True,
            start_method="spawn",
        )
        collected = [results.get(rank) for rank in range(world_size)]
    for rank, item in enumerate(collected):
        if item is None:
            raise RuntimeError(f"rank {rank} returned nothing")
        status, value = item
        if status == "error":
            raise RuntimeError(f"rank {rank} failed:\n{value}")
    return [value for _, value in collected]
