"""GLM-Large's layer shape trains alike at TP=2 x DP=2 with ZeRO-2 and on one process.

Four gloo processes (tensor-parallel 2 x data-parallel 2, ZeRO stage 2, AdamW, fp32, dropout
off) take three optimizer steps of a 24-layer, 1024-hidden, 16-head GLM; one process takes the
same three steps on the same samples with two micro-batches per step. Their losses must agree
within 1e-4: tensor-parallel sharding of every layer, the vocabulary-parallel loss, data-parallel
gradient averaging and ZeRO-2's partitioned optimizer must each be exact at the real layer
shape, not only on tiny models. Each rank's peak memory is printed (``-s`` shows it).

Kept short for CI: sequences of ``SEQ`` = 128 tokens (GLM-Large trains at 512: the test passes
there too, in about 150 s instead of 60-100 s on two cores; the sequence length changes the
attention cost, not the layer shapes under test) and a 1024-row vocabulary (GLM-Large's 30592
rows would only add embedding memory). Memory: about 2.8 GB per rank for the four ranks at once
(fp32 weights and gradients of half the model, ZeRO-2's fp32 partition, AdamW states and
gradient partitions), then 5.4 GB for the single process.
"""

import json
import resource
import time

import pytest
import torch

import mpu
from model import GLMModel
from tests.distributed import run_distributed
from training.arguments import parse_args
from training.loop import (
    TrainHooks,
    TrainState,
    lm_forward_step,
    model_parallel_batches,
    train_loop,
)

SEQ = 128
VOCAB = 1024
STEPS = 3
LARGE = [
    "--block-lm",
    "--num-layers",
    "24",
    "--hidden-size",
    "1024",
    "--num-attention-heads",
    "16",
    "--max-position-embeddings",
    "512",
    "--seq-length",
    str(SEQ),
    "--batch-size",
    "1",
    "--hidden-dropout",
    "0",
    "--attention-dropout",
    "0",
    "--lr",
    "2e-5",
    "--warmup",
    "0",
    "--lr-decay-style",
    "constant",
    "--log-interval",
    "1",
]


def _samples(first: int, stride: int):
    """Samples ``first``, ``first + stride``, ... of a two-sample data set, repeated: every
    step sees samples 0 and 1, so the loss must fall."""
    index = first
    half = SEQ // 2
    positions = torch.stack([torch.arange(SEQ), (torch.arange(SEQ) >= half).long()])[None]
    while True:
        tokens = torch.randint(
            0, VOCAB, (1, SEQ), generator=torch.Generator().manual_seed(index % 2)
        )
        yield {
            "tokens": tokens,
            "targets": tokens.roll(-1, 1),
            "loss_mask": (torch.arange(SEQ) >= half).float()[None],
            "position_ids": positions,
            "sep": torch.tensor([half]),
            "mode": "bert",
        }
        index += stride


def _train(rank, world, argv):
    """Three steps; returns (losses, this process's peak RSS in MB, seconds)."""
    from mpu import initialize_distributed, set_random_seed
    from training.engine import build_engine

    start = time.perf_counter()
    args = parse_args(LARGE + argv)
    device = initialize_distributed(args.parallel.model_parallel_size)
    set_random_seed(args.train.seed, device)
    model = GLMModel(args.model_config(VOCAB), seed=args.train.seed)
    engine = build_engine(model, args.engine_config(), train_iters=STEPS)
    dp_rank, dp_world = mpu.get_data_parallel_rank(), mpu.get_data_parallel_world_size()
    reader = _samples(dp_rank, dp_world) if mpu.get_model_parallel_rank() == 0 else None
    batches = model_parallel_batches(reader, device)
    losses = []

    class Log:
        def train_step(self, state, metrics):
            losses.append(metrics["loss"])

    config = args.loop_config()
    train_loop(engine, batches, lm_forward_step, STEPS, config, TrainState(), TrainHooks(), Log())
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return losses, peak, time.perf_counter() - start


@pytest.mark.slow
def test_tp2_dp2_zero2_matches_one_process_at_the_large_layer_shape(tmp_path):
    # Small ZeRO buckets: DeepSpeed's default 5e8-element buckets would take 2 GB per rank.
    ds_json = tmp_path / "ds.json"
    buckets = {"reduce_bucket_size": 5e7, "allgather_bucket_size": 5e7}
    ds_json.write_text(json.dumps({"zero_optimization": {"stage": 2, **buckets}}))
    parallel = ["--model-parallel-size", "2", "--deepspeed_config", str(ds_json)]
    ranks = run_distributed(_train, 4, tmp_path / "tp2dp2", parallel)
    (single,) = run_distributed(
        _train, 1, tmp_path / "single", ["--gradient-accumulation-steps", "2"]
    )
    for rank, (losses, peak, seconds) in enumerate(ranks):
        print(f"rank {rank}: losses {losses}  peak RSS {peak:.0f} MB  {seconds:.0f} s")
    print(f"one process: losses {single[0]}  peak RSS {single[1]:.0f} MB  {single[2]:.0f} s")
    assert len(single[0]) == STEPS and single[0][0] > 1.0
    for losses, _, _ in ranks:
        assert len(losses) == STEPS
        assert max(abs(a - b) for a, b in zip(losses, single[0], strict=True)) <= 1e-4
    assert single[0][-1] < single[0][0] - 0.1  # the optimizer steps took effect
