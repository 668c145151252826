"""The training loop on DeepSpeed (CPU, gloo): precision, ZeRO, TP x DP, exact resume, atomic
saves, LR schedules and parameter groups."""

import math

import pytest
import torch

import mpu
from checkpoint_io import CheckpointError, locate_checkpoint
from model import GLMModel
from mpu import set_random_seed
from tests.distributed import run_distributed
from training.arguments import parse_args
from training.checkpointing import (
    resume_training_checkpoint,
    save_training_checkpoint,
    training_state,
)
from training.engine import AnnealingLR, param_groups
from training.loop import (
    TrainHooks,
    TrainState,
    lm_forward_step,
    model_parallel_batches,
    train_loop,
)

TINY = [
    "--block-lm",
    "--num-layers",
    "2",
    "--hidden-size",
    "32",
    "--num-attention-heads",
    "4",
    "--max-position-embeddings",
    "64",
    "--seq-length",
    "16",
    "--batch-size",
    "2",
    "--lr",
    "1e-3",
    "--warmup",
    "0.1",
    "--lr-decay-style",
    "cosine",
    "--log-interval",
    "1",
]
VOCAB = 128


def synthetic_batches(args, start_samples: int, dp_rank: int, dp_world: int, fixed: bool = False):
    """Deterministic micro-batches indexed by consumed samples (so a resumed run continues)."""
    batch = args.train.batch_size
    index = start_samples // (batch * dp_world)
    while True:
        seed = 0 if fixed else index * dp_world + dp_rank
        generator = torch.Generator().manual_seed(seed)
        length = args.data.seq_length
        tokens = torch.randint(0, VOCAB, (batch, length), generator=generator)
        sep = torch.full((batch,), length // 2)
        positions = torch.stack(
            [
                torch.arange(length).expand(batch, -1),
                (torch.arange(length) >= length // 2).long().expand(batch, -1),
            ],
            1,
        )
        loss_mask = (torch.arange(length) >= length // 2).float().expand(batch, -1)
        yield {
            "tokens": tokens,
            "targets": tokens.roll(-1, 1),
            "loss_mask": loss_mask,
            "position_ids": positions,
            "sep": sep,
            "mode": "bert",
        }
        index += 1


def _weights(model) -> torch.Tensor:
    return torch.cat([p.detach().float().flatten() for p in model.parameters()])


def _run(rank, world, argv, steps, save_dir=None, load_dir=None, fixed=False):
    """Train ``steps`` optimizer steps; returns (losses, weights of TP rank 0 / DP rank 0)."""
    from mpu import initialize_distributed
    from training.engine import build_engine

    args = parse_args(TINY + argv)
    device = initialize_distributed(args.parallel.model_parallel_size)
    set_random_seed(args.train.seed, device)
    model = GLMModel(args.model_config(VOCAB), seed=args.train.seed)
    engine = build_engine(model, args.engine_config(), train_iters=args.train.train_iters or steps)
    state = TrainState()
    if load_dir is not None:
        state = TrainState(**resume_training_checkpoint(engine, load_dir))
    dp_rank, dp_world = mpu.get_data_parallel_rank(), mpu.get_data_parallel_world_size()
    reader = synthetic_batches(args, state.consumed_samples, dp_rank, dp_world, fixed)
    batches = model_parallel_batches(reader if mpu.get_model_parallel_rank() == 0 else None, device)
    losses = []

    class Log:
        def train_step(self, s, metrics):
            losses.append(metrics["loss"])

    train_loop(
        engine, batches, lm_forward_step, steps, args.loop_config(), state, TrainHooks(), log=Log()
    )
    if save_dir is not None:
        save_training_checkpoint(engine, save_dir, vars(state), args.to_dict())
    mpu.destroy_model_parallel()
    return losses, _weights(engine.module)


PRECISION_AND_ZERO = [[], ["--bf16"], ["--zero-stage", "2"], ["--zero-stage", "2", "--bf16"]]


def _overfit_worker(rank, world, layout):
    """Every ZeRO stage x precision in one process group (spawning is the slow part)."""
    constant = ["--lr-decay-style", "constant", "--warmup", "0"]
    return [
        _run(rank, world, layout + extra + constant, 12, fixed=True) for extra in PRECISION_AND_ZERO
    ]


@pytest.mark.slow
@pytest.mark.parametrize(
    ("world", "layout"),
    [(1, []), (2, ["--model-parallel-size", "2"]), (2, [])],
    ids=["tp1", "tp2-dp1", "tp1-dp2"],
)
def test_training_runs_and_overfits_one_batch(tmp_path, world, layout):
    """ZeRO 0 and 2, fp32 and bf16: the loss on one repeated batch falls."""
    results = run_distributed(_overfit_worker, world, tmp_path, layout)
    for extra, (losses, weights) in zip(PRECISION_AND_ZERO, results[0], strict=True):
        assert all(math.isfinite(x) for x in losses), extra
        assert losses[-1] < losses[0] - 0.5, (extra, losses)
        if world == 2 and not layout:
            assert torch.equal(weights, results[1][PRECISION_AND_ZERO.index(extra)][1])


@pytest.mark.slow
@pytest.mark.parametrize("argv", [[], ["--zero-stage", "2", "--bf16"]], ids=["fp32", "zero2-bf16"])
def test_resume_continues_bit_for_bit(tmp_path, argv):
    world = 2 if argv else 1
    argv = [*argv, "--train-iters", "6"]  # the same schedule horizon in every phase
    straight = run_distributed(_run, world, tmp_path / "a", argv, 6)
    run_distributed(_run, world, tmp_path / "b", argv, 3, tmp_path / "ckpt")
    resumed = run_distributed(_run, world, tmp_path / "c", argv, 6, None, tmp_path / "ckpt")
    assert resumed[0][0] == straight[0][0][3:]
    assert torch.equal(resumed[0][1], straight[0][1])


def _crash_worker(rank, world, save_dir):
    """Save at step 2, then crash half-way through saving step 4: step 2 must stay usable."""
    from mpu import initialize_distributed
    from training.engine import build_engine

    args = parse_args(TINY)
    device = initialize_distributed(args.parallel.model_parallel_size)
    set_random_seed(1, device)
    engine = build_engine(
        GLMModel(args.model_config(VOCAB), seed=1), args.engine_config(), train_iters=4
    )
    state = TrainState()
    batches = synthetic_batches(args, 0, 0, 1)
    train_loop(engine, batches, lm_forward_step, 2, args.loop_config(), state)
    save_training_checkpoint(engine, save_dir, vars(state), args.to_dict())
    saved_weights = _weights(engine.module)
    train_loop(engine, batches, lm_forward_step, 4, args.loop_config(), state)
    original_save = torch.save

    def crash(obj, path, *a, **k):
        with open(path, "wb") as handle:
            handle.write(b"partial")
        raise KeyboardInterrupt("killed while saving")

    torch.save = crash
    try:
        save_training_checkpoint(engine, save_dir, vars(state), args.to_dict())
    except KeyboardInterrupt:
        pass
    finally:
        torch.save = original_save
    engine.module.load_state_dict(
        {k: torch.zeros_like(v) for k, v in engine.module.state_dict().items()}
    )
    restored = resume_training_checkpoint(engine, save_dir)
    mpu.destroy_model_parallel()
    return (
        locate_checkpoint(save_dir).tag,
        restored["iteration"],
        torch.equal(_weights(engine.module), saved_weights),
    )


@pytest.mark.slow
def test_crash_while_saving_keeps_previous_checkpoint(tmp_path):
    tag, iteration, same = run_distributed(_crash_worker, 1, tmp_path, tmp_path / "ckpt")[0]
    assert (tag, iteration, same) == ("2", 2, True)


def test_a_release_checkpoint_holds_no_training_state(reference_dir):
    assert training_state(reference_dir / "checkpoints/glm-tiny-gpt2") is None


def test_resume_from_missing_folder_is_clear(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        training_state(tmp_path / "nope")
    with pytest.raises(CheckpointError, match="does not exist"):
        resume_training_checkpoint(None, tmp_path / "nope")


def _lr_curve(style, steps=100, warmup=0.1, ratio=0.1):
    args = parse_args(
        ["--lr-decay-style", style, "--warmup", str(warmup), "--lr-decay-ratio", str(ratio)]
    )
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = AnnealingLR(optimizer, args.engine_config().schedule, peak_lr=1.0, horizon=steps)
    curve = [schedule.get_lr()]
    for _ in range(2 * steps):
        schedule.step()
        curve.append(optimizer.param_groups[0]["lr"])
    return curve


def test_warmup_then_decay_to_the_floor():
    for style in ("linear", "cosine", "exponential"):
        curve = _lr_curve(style)
        assert (
            curve[0] == 0.0 and curve[5] == pytest.approx(0.5) and curve[10] == pytest.approx(1.0)
        )
        assert curve[100] == pytest.approx(0.1) and curve[200] == pytest.approx(0.1)  # clamped
        assert all(a >= b - 1e-12 for a, b in zip(curve[10:], curve[11:], strict=False))
    assert _lr_curve("cosine")[55] == pytest.approx(0.1 + 0.9 * 0.5)
    assert _lr_curve("linear")[55] == pytest.approx(1 - 0.9 * 0.5)
    assert _lr_curve("exponential")[55] == pytest.approx(0.1**0.5)
    assert set(_lr_curve("constant", warmup=0)) == {1.0}


def test_switch_linear_decays_from_current_rate_to_zero():
    args = parse_args(["--lr-decay-style", "cosine", "--warmup", "0"])
    optimizer = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    schedule = AnnealingLR(optimizer, args.engine_config().schedule, peak_lr=1.0, horizon=100)
    for _ in range(50):
        schedule.step()
    current = schedule.get_lr()
    schedule.switch_to_linear(remaining_steps=10)
    assert schedule.get_lr() == pytest.approx(current)
    for _ in range(10):
        schedule.step()
    assert schedule.get_lr() == pytest.approx(0.0)


def test_no_weight_decay_on_biases_and_layernorm():
    args = parse_args(TINY)
    model = GLMModel(args.model_config(VOCAB))
    decay, no_decay = param_groups(model, 0.1)
    names = {id(p): n for n, p in model.named_parameters()}
    assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] == 0.1
    assert all(
        names[id(p)].endswith("bias") or "layernorm" in names[id(p)] for p in no_decay["params"]
    )
    assert not any(names[id(p)].endswith("bias") for p in decay["params"])
    assert len(decay["params"]) + len(no_decay["params"]) == len(names)


def test_validation_log_line_groups_objectives_and_labels_accuracy():
    from training.log import format_results

    line = format_results(
        {"loss": 4.0, "loss_bert": 3.5, "acc": 0.25, "acc_most_frequent": 0.05, "ppl": 54.6}
        | {"acc_bert": 0.3, "acc_bert_most_frequent": 0.04, "ppl_bert": 33.12}
    )
    assert line == (
        "loss 4.0000 | acc 25.0% (most frequent 5.0%) | ppl 54.6 | "
        "bert: loss 3.5000 acc 30.0% (most frequent 4.0%) ppl 33.1"
    )
    text = {"acc_bert": 0.3, "acc_bert_most_frequent": 0.25, "acc_bert_text": 0.2}
    assert format_results(text | {"acc_bert_text_most_frequent": 0.04}) == (
        "bert: acc 30.0% (most frequent 25.0%) text acc 20.0% (most frequent 4.0%)"
    )


def test_validation_reports_first_token_accuracy_per_objective():
    """Targets whose input is [sop] (id 9) are each span's first token: right 1 of 2 here."""
    from training.evaluation import evaluate_loss

    def step(batch, model):
        return torch.tensor(1.0), {"mode": "bert", **batch}

    batch = {
        "inputs": torch.tensor([9, 5, 6, 9, 7]),
        "targets": torch.tensor([5, 6, 3, 7, 3]),  # 3 is [eop]
        "predicted": torch.tensor([5, 6, 3, 1, 1]),
    }
    results = evaluate_loss(torch.nn.Linear(1, 1), iter([batch]), step, 1, 3, span_start_id=9)
    assert results["acc_bert"] == pytest.approx(3 / 5)
    assert results["acc_bert_text"] == pytest.approx(2 / 3)
    assert results["acc_bert_first"] == pytest.approx(1 / 2)
    assert results["acc_bert_first_most_frequent"] == pytest.approx(1 / 2)
    without = evaluate_loss(torch.nn.Linear(1, 1), iter([batch]), step, 1, 3)
    assert "acc_bert_first" not in without


def test_first_token_accuracy_has_its_label_in_the_log_line():
    from training.log import format_results

    line = format_results({"acc_gpt_first": 0.31, "acc_gpt_first_most_frequent": 0.05})
    assert line == "gpt: first-token acc 31.0% (most frequent 5.0%)"
