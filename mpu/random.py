"""RNG streams for tensor parallelism, on CPU and CUDA, and activation checkpointing.

Two streams matter:
- the default generator drives dropout on tensors that are replicated across the tensor-parallel
  group (embeddings, residual branches): it must be identical on the ranks of one group, and
  differ between data-parallel replicas;
- the tracked ``model-parallel-rng`` stream drives dropout on sharded tensors (attention
  probabilities: each rank holds different heads), so it differs per tensor-parallel rank.

``RNGStatesTracker.fork`` swaps a tracked state into the default generator of the device in
use, runs the block and stores the advanced state back. ``checkpoint`` recomputes a block in
backward with the same default and tracked RNG states as its forward, so dropout masks match.
"""

import contextlib

import torch
import torch.utils.checkpoint

from mpu.parallel_state import (
    get_data_parallel_rank,
    get_model_parallel_rank,
    get_model_parallel_world_size,
)

MODEL_PARALLEL_RNG = "model-parallel-rng"


def _get_state(device_type: str) -> torch.Tensor:
    return torch.cuda.get_rng_state() if device_type == "cuda" else torch.get_rng_state()


def _set_state(device_type: str, state: torch.Tensor) -> None:
    if device_type == "cuda":
        torch.cuda.set_rng_state(state)
    else:
        torch.set_rng_state(state)


def _compiled_without_model_parallelism() -> bool:
    """Inside ``torch.compile`` with one tensor-parallel rank: do not swap RNG states.

    Swapping the generator state is a graph break, which would cut every compiled layer in
    three. With one rank the tracked stream has no job (no other rank's heads to differ from);
    dropout then draws from the seeded default generator, as everything else does."""
    return torch.compiler.is_compiling() and get_model_parallel_world_size() == 1


class RNGStatesTracker:
    """Named RNG states that can be swapped into the default generator."""

    def __init__(self) -> None:
        self.states: dict[str, torch.Tensor] = {}
        self.device_type = "cpu"

    def reset(self) -> None:
        self.states = {}

    def get_states(self) -> dict[str, torch.Tensor]:
        return {name: state.clone() for name, state in self.states.items()}

    def set_states(self, states: dict[str, torch.Tensor]) -> None:
        self.states = {name: state.clone() for name, state in states.items()}

    def add(self, name: str, seed: int) -> None:
        if name in self.states:
            raise ValueError(f"RNG state {name!r} already exists")
        saved = _get_state(self.device_type)
        torch.manual_seed(seed)
        self.states[name] = _get_state(self.device_type)
        _set_state(self.device_type, saved)

    @contextlib.contextmanager
    def fork(self, name: str = MODEL_PARALLEL_RNG):
        if name not in self.states or _compiled_without_model_parallelism():
            yield
            return
        saved = _get_state(self.device_type)
        _set_state(self.device_type, self.states[name])
        try:
            yield
        finally:
            self.states[name] = _get_state(self.device_type)
            _set_state(self.device_type, saved)

    @contextlib.contextmanager
    def restored(self, states: dict[str, torch.Tensor]):
        """Temporarily use ``states`` (for recomputation), then put the current ones back."""
        current = self.states
        self.states = {name: state.clone() for name, state in states.items()}
        try:
            yield
        finally:
            self.states = current


_TRACKER = RNGStatesTracker()


def get_rng_tracker() -> RNGStatesTracker:
    return _TRACKER


def model_parallel_seed(seed: int, device_type: str = "cpu") -> None:
    """Seed the default generator (per data-parallel replica) and the tracked stream (per rank).

    Unlike Megatron, which gives every rank the same default seed, the default stream is offset
    by the data-parallel rank so that replicas do not draw identical dropout masks.
    """
    default_seed = seed + 1009 * get_data_parallel_rank()
    torch.manual_seed(default_seed)
    if device_type == "cuda":
        torch.cuda.manual_seed(default_seed)
    _TRACKER.reset()
    _TRACKER.device_type = device_type
    _TRACKER.add(MODEL_PARALLEL_RNG, seed + 2718 + get_model_parallel_rank())


def checkpoint(function, *args):
    """Activation checkpointing that also replays the tracked RNG stream on recomputation."""
    saved = _TRACKER.get_states()

    def contexts():
        return contextlib.nullcontext(), _TRACKER.restored(saved)

    return torch.utils.checkpoint.checkpoint(
        function, *args, use_reentrant=False, context_fn=contexts, preserve_rng_state=True
    )
