"""Memory of a GLM run per GPU (or per CPU process): the terms and the peak.

Notation: ``P`` parameters on this tensor-parallel rank (``training/memory_shapes.py``), ``D``
data-parallel size, ``e`` bytes of the compute dtype (bf16/fp16 2, fp32 4). What each ZeRO
stage keeps, as DeepSpeed 0.19 allocates it for the engine of ``training/engine.py`` (always
a PyTorch AdamW, so DeepSpeed's fp16/bf16 stage-0 path is its unfused optimizer):

==============  ===================  ==================  ==================================
ZeRO stage      parameters           gradients           optimizer states
==============  ===================  ==================  ==================================
0, fp32         ``4P``               ``4P``              Adam moments ``8P``
0, bf16/fp16    ``eP``               ``eP``              fp32 master ``4P`` + moments ``8P``
1               ``eP``               ``eP`` + ``eP/D``   master ``4P/D`` + moments ``8P/D``
2               ``eP``               ``eP/D``            master ``4P/D`` + moments ``8P/D``
3               ``eP/D`` + gathered  ``eP/D``            master ``4P/D`` + moments ``8P/D``
==============  ===================  ==================  ==================================

ZeRO keeps an fp32 master partition even for an fp32 model. Stage 1 holds every gradient until
the end of backward and then copies its partition out; stage 2 reduces gradients in buckets as
backward produces them. Stages 1-3 add their reduce buckets (``reduce_bucket_size`` values, two
with ``overlap_comm``); stage 3 gathers the parameters of the layer it runs (plus its prefetch
bucket). With ``--cpu-offload`` (stages 1-3) the fp32 master, the moments and fp32 gradients
live in host memory. Adafactor keeps factored second moments instead of Adam's ``8P``.

The optimizer step needs workspace on top of the gradients: stage 0 in 16 bits converts every
gradient to fp32 (``4P``); stages 1-2 flatten their gradient partition (``eP/D``) and convert
it to fp32 (``4P/D`` more in 16 bits); stage 3 converts its partition (``4P/D``).

The peak is the largest of three moments (activations in ``training/memory_activations.py``):

- backward start: parameters + optimizer states + activations (+ reduce buckets on a GPU, which
  DeepSpeed allocates at the first gradient, and gradients kept across accumulation steps);
- backward end: parameters + optimizer states + gradients + reduce buckets, and the tied word
  embedding's two partial gradients (the output projection's, which autograd holds through
  backward, and the lookup's, summed last);
- optimizer step: parameters + optimizer states + gradients + step workspace.

This is the peak of live tensors, which PyTorch's allocators reuse; the CUDA context, NCCL
buffers and allocator fragmentation come on top (see docs/memory.md).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from model.config import GLMConfig
from training.memory_activations import ActivationSetup, activation_bytes
from training.memory_shapes import numel, parameter_count, parameter_shapes

PRECISION_BYTES = {"fp32": 4, "bf16": 2, "fp16": 2}


@dataclass(frozen=True)
class ZeroSettings:
    """The ``zero_optimization`` entries of a DeepSpeed JSON that size buffers (its defaults)."""

    reduce_bucket_size: int = 500_000_000
    overlap_comm: bool | None = None  # None: DeepSpeed's default, on for stage 3 only
    contiguous_gradients: bool = True
    prefetch_bucket_size: int = 50_000_000
    max_live_parameters: int = 1_000_000_000
    param_persistence_threshold: int = 100_000

    @classmethod
    def from_deepspeed_json(cls, config: dict | None) -> ZeroSettings:
        zero = (config or {}).get("zero_optimization", {})
        names = {
            "reduce_bucket_size": "reduce_bucket_size",
            "overlap_comm": "overlap_comm",
            "contiguous_gradients": "contiguous_gradients",
            "stage3_prefetch_bucket_size": "prefetch_bucket_size",
            "stage3_max_live_parameters": "max_live_parameters",
            "stage3_param_persistence_threshold": "param_persistence_threshold",
        }
        values = {ours: zero[key] for key, ours in names.items() if key in zero}
        for key in values:
            if key not in ("overlap_comm", "contiguous_gradients"):
                values[key] = int(values[key])
        return cls(**values)

    def overlapping(self, stage: int) -> bool:
        return stage == 3 if self.overlap_comm is None else bool(self.overlap_comm)


@dataclass(frozen=True)
class TrainingSetup:
    tp: int = 1
    dp: int = 1
    precision: str = "fp32"  # fp32, bf16 or fp16
    zero_stage: int = 0
    cpu_offload: bool = False
    micro_batch: int = 1
    seq_length: int = 512
    gradient_accumulation_steps: int = 1
    scored_fraction: float = 1.0
    optimizer: str = "adam"  # adam or adafactor
    on_cpu: bool = False  # a CPU run: everything in host memory, CPU attention kernels
    zero: ZeroSettings = field(default_factory=ZeroSettings)

    @property
    def bytes_per_value(self) -> int:
        return PRECISION_BYTES[self.precision]

    def activation_setup(self) -> ActivationSetup:
        return ActivationSetup(
            self.micro_batch,
            self.seq_length,
            self.tp,
            self.bytes_per_value,
            self.scored_fraction,
            self.on_cpu,
        )


# When a term is alive (see ``_moments``).
STATIC, ACTIVATIONS, STEP = "static", "activations", "step"
GRADIENTS = "gradients"  # from the end of backward through the optimizer step
BUCKETS = "buckets"  # reduce buffers: from the first gradient (on a GPU) to the end of backward
REDUCTION = "reduction"  # only at the end of backward: gradients waiting to be reduced
EMBEDDING = "embedding"  # the tied embedding's partial gradients, just before they are summed


@dataclass(frozen=True)
class Term:
    """One line of an estimate: bytes per GPU (or, with ``host``, in the host's memory)."""

    name: str
    bytes: int
    kind: str = STATIC
    note: str = ""
    host: bool = False


@dataclass(frozen=True)
class Estimate:
    terms: tuple[Term, ...]
    peak_device: int  # the largest moment on the GPU (or in a CPU process)
    peak_host: int  # what offloading adds to each process's host memory
    moments: dict[str, int] = field(default_factory=dict)

    def term(self, name: str) -> int:
        return sum(t.bytes for t in self.terms if t.name == name)

    def to_dict(self) -> dict:
        return {
            "terms": [vars(t) for t in self.terms],
            "peak_device_bytes": self.peak_device,
            "peak_host_bytes": self.peak_host,
            "moments": self.moments,
        }


def _gib(values: float) -> str:
    return f"{values / 1e9:.2f} G values"


def _optimizer_state_values(shapes: dict, setup: TrainingSetup, partitioned: bool) -> float:
    """fp32 values of optimizer state per rank: Adam's two moments, or Adafactor's factored
    second moment (rows + columns of a matrix; a flat ZeRO partition is one long vector)."""
    count = sum(numel(shape) for shape in shapes.values())
    if setup.optimizer == "adam":
        return 2 * count / (setup.dp if partitioned else 1)
    if partitioned:
        return count / setup.dp
    return sum(sum(shape) if len(shape) == 2 else numel(shape) for shape in shapes.values())


def _parameter_terms(config: GLMConfig, setup: TrainingSetup, shapes: dict) -> list[Term]:
    e, count, dp = setup.bytes_per_value, parameter_count(config, setup.tp), setup.dp
    dtype = setup.precision
    if setup.zero_stage < 3:
        return [Term("parameters", e * count, note=f"{dtype}, {_gib(count)}")]
    zero = setup.zero
    small = sum(numel(s) for s in shapes.values() if numel(s) <= zero.param_persistence_threshold)
    largest = max(numel(s) for s in shapes.values())
    layer = sum(numel(s) for n, s in shapes.items() if n.startswith("transformer.layers.0."))
    gathered = min(
        zero.max_live_parameters, max(largest, layer) + min(zero.prefetch_bucket_size, layer)
    )
    return [
        Term("parameters", e * ((count - small) // dp + small), note=f"{dtype}, 1/{dp} partition"),
        Term("gathered parameters", e * gathered, note="the running layer + prefetch (ZeRO-3)"),
    ]


def _bucket_bytes(setup: TrainingSetup, count: int) -> int:
    """Reduce buckets: allocated whole on a GPU (a CPU process touches only the pages it fills);
    without contiguous gradients each bucket is a flattened copy made when it is reduced."""
    stage, zero, e = setup.zero_stage, setup.zero, setup.bytes_per_value
    if stage == 0:  # DeepSpeed flattens up to 5e8 gradients at a time to all-reduce them
        return e * min(count, 500_000_000) if setup.dp > 1 else 0
    buffers = 2 if zero.overlapping(stage) else 1
    if setup.on_cpu:
        return e * min(count, buffers * zero.reduce_bucket_size)
    if not zero.contiguous_gradients and stage < 3:
        return e * buffers * min(count, zero.reduce_bucket_size)
    return e * buffers * zero.reduce_bucket_size


def _gradient_terms(setup: TrainingSetup, shapes: dict) -> list[Term]:
    """Gradients, reduce buckets and the tied embedding's two partial gradients (the output
    projection's, held by autograd through backward, and the lookup's, summed at the end)."""
    e, dp, stage, offload = setup.bytes_per_value, setup.dp, setup.zero_stage, setup.cpu_offload
    count = sum(numel(shape) for shape in shapes.values())
    largest = max(numel(shape) for shape in shapes.values())
    embedding = numel(shapes["word_embeddings.weight"])
    terms = []
    if stage == 0:
        terms.append(Term("gradients", e * count, GRADIENTS, f"{setup.precision}, all"))
    if stage == 1:  # every gradient waits for the end of backward, then its partition is copied
        terms.append(Term("gradients", e * count, REDUCTION, "all, until reduced"))
    if stage >= 1 and not offload:  # the reduced partition the optimizer step reads
        terms.append(Term("gradients", e * count // dp, GRADIENTS, f"1/{dp} partition"))
    terms.append(Term("tied embedding gradients", 2 * e * embedding, EMBEDDING, "partial sums"))
    buckets = _bucket_bytes(setup, count)
    if buckets:  # stage 0 flattens its gradients for the all-reduce only after backward
        kind = REDUCTION if stage == 0 else BUCKETS
        terms.append(Term("gradient buckets", buckets, kind, "DeepSpeed reduce buffers"))
    if offload:
        terms.append(Term("gradient buckets", e * largest, BUCKETS, "offload copy buffer"))
        terms.append(Term("gradients", 4 * count // dp, GRADIENTS, "fp32 partition", host=True))
    return terms


def _optimizer_terms(setup: TrainingSetup, shapes: dict, count: int) -> list[Term]:
    stage, dp, e, host = setup.zero_stage, setup.dp, setup.bytes_per_value, setup.cpu_offload
    moments = _optimizer_state_values(shapes, setup, partitioned=stage > 0)
    name = "Adam moments" if setup.optimizer == "adam" else "Adafactor moments"
    terms = [Term(name, int(4 * moments), note="fp32", host=host)]
    if stage > 0 or e == 2:
        master = count // dp if stage > 0 else count
        part = f"1/{dp} partition" if stage > 0 else "all"
        terms.insert(0, Term("fp32 master weights", 4 * master, note=part, host=host))
    if host:  # the 16-bit copy the updated partition travels through back to the GPU
        terms.append(Term("offload staging", e * count // dp, note="16-bit partition", host=True))
    return terms


def _step_workspace(setup: TrainingSetup, count: int) -> int:
    """Transient tensors of the optimizer step (see the module docstring)."""
    stage, dp, e = setup.zero_stage, setup.dp, setup.bytes_per_value
    if setup.cpu_offload:
        return 0
    if stage == 0:
        return 4 * count if e == 2 else 0
    if stage < 3:
        return (e + (4 if e == 2 else 0)) * count // dp
    return 4 * count // dp if e == 2 else 0


def training_terms(config: GLMConfig, setup: TrainingSetup, checkpoint: bool) -> list[Term]:
    """Every term of a training step per rank (``checkpoint``: activation checkpointing)."""
    if setup.zero_stage == 0 and setup.cpu_offload:
        raise ValueError("--cpu-offload needs --zero-stage 1, 2 or 3 (DeepSpeed offloads ZeRO)")
    shapes = parameter_shapes(config, setup.tp)
    count = sum(numel(shape) for shape in shapes.values())
    terms = _parameter_terms(config, setup, shapes)
    terms += _gradient_terms(setup, shapes)
    terms += _optimizer_terms(setup, shapes, count)
    workspace = _step_workspace(setup, count)
    if workspace:
        terms.append(
            Term("optimizer step workspace", workspace, STEP, "gradients flattened / fp32")
        )
    activations = activation_bytes(config, setup.activation_setup(), checkpoint)
    how = "checkpointed" if checkpoint else "all layers"
    terms.append(Term("activations", activations, ACTIVATIONS, f"{how}, with logits and loss"))
    return terms


def _moments(terms: list[Term], setup: TrainingSetup) -> dict[str, int]:
    """Bytes alive at the three moments of the module docstring."""
    here = [t for t in terms if setup.on_cpu or not t.host]

    def total(*kinds: str) -> int:
        return sum(t.bytes for t in here if t.kind in kinds)

    static, grads, buckets = total(STATIC), total(GRADIENTS, REDUCTION), total(BUCKETS)
    early = 0 if setup.on_cpu else buckets  # a GPU allocates them whole at the first gradient
    accumulated = total(GRADIENTS) if setup.gradient_accumulation_steps > 1 else 0
    if setup.zero_stage > 0 and setup.on_cpu:
        # a CPU process has touched only the bucket pages the gradients filled, and the tied
        # embedding's partial sums come before the partition is copied out of them
        end = max(grads, total(EMBEDDING))
    else:
        end = grads + total(EMBEDDING)
    return {
        "backward start": static + total(ACTIVATIONS) + early + accumulated,
        "backward end": static + buckets + end,
        "optimizer step": static + total(GRADIENTS, STEP),
    }


def estimate_training(config: GLMConfig, setup: TrainingSetup, checkpoint: bool) -> Estimate:
    """The terms, the three moments and the peak per GPU (per process with ``on_cpu``)."""
    terms = training_terms(config, setup, checkpoint)
    moments = _moments(terms, setup)
    host = 0 if setup.on_cpu else sum(t.bytes for t in terms if t.host)
    return Estimate(tuple(terms), max(moments.values()), host, moments)
