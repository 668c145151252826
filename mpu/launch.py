"""Process start-up shared by every entry point: the process group, the parallel groups, seeds.

Launchers (torchrun, deepspeed) set RANK / WORLD_SIZE / MASTER_ADDR / LOCAL_RANK; a plain
``python`` run becomes a world of one on a free local port. NCCL on GPU, gloo on CPU, unless
the caller names a backend.
"""

from __future__ import annotations

import atexit
import os
import random
import socket

import numpy as np
import torch
import torch.distributed as dist

from mpu.parallel_state import initialize_model_parallel, model_parallel_is_initialized
from mpu.random import model_parallel_seed


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def initialize_distributed(
    model_parallel_size: int, backend: str | None = None, local_rank: int | None = None
) -> torch.device:
    """Join (or create) the process group and build the tensor-parallel groups; returns this
    process's device."""
    cuda = torch.cuda.is_available()
    local_rank = local_rank or int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device("cuda", local_rank) if cuda else torch.device("cpu")
    if cuda:
        torch.cuda.set_device(device)
    os.environ.setdefault("LOCAL_RANK", str(local_rank))  # DeepSpeed insists on it
    if not dist.is_initialized():
        backend = backend or ("nccl" if cuda else "gloo")
        if "MASTER_ADDR" in os.environ and "WORLD_SIZE" in os.environ:  # a launcher's world
            dist.init_process_group(backend=backend)
        else:  # a world of one on a port of its own; the address stays out of the environment
            os.environ.update(RANK="0", WORLD_SIZE="1")  # DeepSpeed reads these
            address = f"tcp://127.0.0.1:{_free_port()}"
            dist.init_process_group(backend=backend, init_method=address, rank=0, world_size=1)
        atexit.register(_close_process_group)
    if not model_parallel_is_initialized():
        world = dist.get_world_size()
        if world % model_parallel_size:
            raise ValueError(
                f"--model-parallel-size {model_parallel_size} does not divide the {world} "
                "launched processes"
            )
        initialize_model_parallel(model_parallel_size)
    return device


def initialize_one_model(
    model_parallel_size: int, backend: str | None, local_rank: int | None, who: str
) -> torch.device:
    """``initialize_distributed`` for tools that run one model over all launched processes
    (generation, serving): their number must equal the model-parallel size."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world != model_parallel_size:
        raise ValueError(
            f"{who} runs one model over all processes: launch exactly "
            f"--model-parallel-size {model_parallel_size} processes, not {world}"
        )
    return initialize_distributed(model_parallel_size, backend, local_rank)


def _close_process_group() -> None:
    """Close the group before the interpreter tears down.

    Exiting with gloo's worker threads alive can abort the process ("terminate called without an
    active exception", status -6), e.g. after a bad-input line; closing the group first keeps the
    documented exit status.
    """
    if dist.is_initialized():
        dist.destroy_process_group()


def set_random_seed(seed: int, device: torch.device | None = None) -> None:
    """Seed Python, NumPy and torch (the default and the tensor-parallel streams)."""
    random.seed(seed)
    np.random.seed(seed)
    model_parallel_seed(seed, device.type if device is not None else "cpu")
