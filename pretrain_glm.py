"""GLM pretraining: autoregressive blank infilling on DeepSpeed.

    python pretrain_glm.py --block-lm --train-data data/wiki ... (see config/*.sh)
    bash scripts/ds_pretrain_nvidia.sh config/ds_block_large.sh

Flags -> process groups -> tokenizer -> token stores -> blank-infilling loaders -> GLMModel ->
DeepSpeed engine -> resume (--load) -> train with evaluation and checkpoints -> final save.
"""

from __future__ import annotations

import logging
import sys
from datetime import datetime
from pathlib import Path

import torch

import mpu
from checkpoint_io import load_model_checkpoint
from common.errors import exit_on_bad_input, reporting_write_errors
from common.paths import check_writable_folder
from data_utils.blank_infilling import BlankInfillingCollator, InfillIds
from data_utils.datasets import DataConfig, PackingIds, build_block_datasets
from data_utils.samplers import build_pretrain_loader
from data_utils.store_paths import check_stores, resolve_stores
from data_utils.token_store import tokenizer_fingerprint
from data_utils.tokenization import build_tokenizer
from model import GLMModel
from mpu import initialize_distributed, set_random_seed
from training.arguments import GLMArgs, parse_args
from training.checkpointing import (
    resume_training_checkpoint,
    save_training_checkpoint,
    training_state,
)
from training.engine import build_engine
from training.evaluation import evaluate_loss
from training.log import TrainingLog, flops_per_token, setup_logging
from training.loop import (
    TrainHooks,
    TrainState,
    lm_forward_step,
    model_parallel_batches,
    train_loop,
)

logger = logging.getLogger("glm")


def run_directories(args: GLMArgs) -> tuple[Path | None, Path]:
    """Save and log folders. GLM's naming: ``<save>/<experiment><MM-DD-HH-MM>``, or the loaded
    run's own folder name when resuming (unless --new-save-directory)."""
    ckpt = args.checkpoint
    if ckpt.load and not ckpt.new_save_directory:
        name = Path(ckpt.load).resolve().name
    else:
        name = args.log.experiment_name + datetime.now().strftime("%m-%d-%H-%M")
    save = Path(ckpt.save) / name if ckpt.save else None
    if args.log.summary_dir:
        return save, Path(args.log.summary_dir) / "runs" / name
    return save, save if save is not None else Path("runs") / name


def _shared_flag(value: bool) -> bool:
    """Tensor-parallel rank 0's ``value`` on every rank of its group."""
    return bool(mpu.broadcast_data({"flag": torch.tensor([int(value)])})["flag"].item())


def build_loaders(args: GLMArgs, tokenizer, state: TrainState):
    """Train and validation batch iterators of this rank (None on tensor-parallel ranks > 0)."""
    if mpu.get_model_parallel_rank() != 0:
        return None, None
    data = args.data
    config = DataConfig(
        train_data=tuple(resolve_stores(data.train_data or ())),
        valid_data=tuple(resolve_stores(data.valid_data or (), "--valid-data")),
        test_data=tuple(resolve_stores(data.test_data or (), "--test-data")),
        split=data.split,
        seq_length=data.seq_length,
        non_sentence_start=data.non_sentence_start,
        sample_one_document=data.sample_one_document,
        num_workers=data.num_workers,
        shuffle=data.shuffle,
    )
    seed, dp_rank, dp = (
        args.train.seed,
        mpu.get_data_parallel_rank(),
        mpu.get_data_parallel_world_size(),
    )
    train_set, valid_set, _ = build_block_datasets(
        config, PackingIds.from_tokenizer(tokenizer), seed, tokenizer_fingerprint(tokenizer)
    )
    ids = InfillIds.from_tokenizer(tokenizer)
    masking = args.masking_config()

    def loader(dataset, consumed: int, batch_size: int, offset: int):
        collator = BlankInfillingCollator(masking, ids, seed + offset, dp_rank)
        return build_pretrain_loader(
            dataset,
            collator,
            batch_size,
            dp_rank,
            dp,
            consumed_samples=consumed,
            num_workers=data.num_workers,
            shuffle=data.shuffle,
            seed=seed + offset,
        )

    train = iter(loader(train_set, state.consumed_samples, args.train.batch_size, 0))
    valid = None
    if valid_set is not None:  # endless, resumed after the batches earlier evaluations read
        evaluations = state.iteration // args.train.eval_interval
        read = evaluations * args.train.eval_iters * args.train.eval_batch_size * dp
        valid = iter(loader(valid_set, read, args.train.eval_batch_size, 1))
    return train, valid


def load_weights(args: GLMArgs, model: GLMModel) -> dict | None:
    """Weights to start from, loaded before the engine exists (its optimizer copies the
    weights it starts with): ``--load-pretrained``, or ``--load`` when that is a checkpoint of
    weights only or ``--finetune`` / ``--no-deepspeed-load`` asks for its weights alone.
    Returns the loaded checkpoint dict, None when a training run is to be resumed instead."""
    ckpt = args.checkpoint
    if ckpt.load:
        weights_only = ckpt.finetune or ckpt.no_deepspeed_load
        path = ckpt.load if weights_only or training_state(ckpt.load) is None else None
    else:
        path = ckpt.load_pretrained
    if path is None:
        return None
    tp_rank, tp_world = mpu.get_model_parallel_rank(), mpu.get_model_parallel_world_size()
    checkpoint = load_model_checkpoint(model, path, tp_rank, tp_world)
    if not (ckpt.load and ckpt.no_deepspeed_load and not ckpt.finetune):
        logger.info(
            "starting from the weights of %s: new optimizer and schedule, iteration 0", path
        )
    return checkpoint


def start_state(args: GLMArgs, engine, loaded: dict | None) -> TrainState:
    """Where training starts: a resumed run exactly where it stopped (model, optimizer,
    schedule, RNG, data position); ``--no-deepspeed-load`` at the loaded checkpoint's count of
    steps and samples with a new optimizer; otherwise iteration 0."""
    ckpt = args.checkpoint
    if ckpt.load and loaded is None:
        state = TrainState(**resume_training_checkpoint(engine, ckpt.load, args.resume_options()))
        if args.schedule.switch_linear:
            engine.scheduler.switch_to_linear(args.train.train_iters - state.iteration)
    elif loaded is not None and ckpt.load and ckpt.no_deepspeed_load and not ckpt.finetune:
        saved = loaded.get("train_state") or {"iteration": loaded.get("iteration", 0)}
        state = TrainState(**saved)
        engine.scheduler.load_state_dict({"num_steps": state.iteration})
    else:
        return TrainState()
    logger.info("loaded %s at iteration %d", ckpt.load, state.iteration)
    return state


def check_inputs(args: GLMArgs) -> None:
    """What the run will read and write, checked before the process group and DeepSpeed start."""
    data = args.data
    check_stores(
        {
            "--train-data": data.train_data or (),
            "--valid-data": data.valid_data or (),
            "--test-data": data.test_data or (),
        }
    )
    if args.checkpoint.save:
        check_writable_folder(args.checkpoint.save, "--save")


def main(argv: list[str] | None = None) -> TrainState:
    args = parse_args(argv, "GLM pretraining")
    check_inputs(args)
    parallel = args.parallel
    device = initialize_distributed(
        parallel.model_parallel_size, parallel.distributed_backend, parallel.local_rank
    )
    setup_logging()
    set_random_seed(args.train.seed, device)
    tokenizer = build_tokenizer(args.tokenizer_config())
    save_dir, log_dir = run_directories(args)

    config = args.model_config(tokenizer.vocab_size)
    model = GLMModel(config, seed=args.train.seed).to(device)
    loaded = load_weights(args, model)
    engine = build_engine(model, args.engine_config(), args.train.train_iters)
    state = start_state(args, engine, loaded)

    train_reader, valid_reader = build_loaders(args, tokenizer, state)
    train_batches = model_parallel_batches(train_reader, device)
    has_valid = _shared_flag(valid_reader is not None)
    valid_batches = model_parallel_batches(valid_reader, device) if has_valid else None

    def save(s: TrainState) -> None:
        if save_dir is not None:
            # A full disk or lost permission is one line (the staged save leaves no half folder).
            with reporting_write_errors(save_dir, "the checkpoint into --save"):
                save_training_checkpoint(
                    engine, save_dir, vars(s), args.to_dict(), args.save_options()
                )

    def evaluate(s: TrainState) -> dict:
        return evaluate_loss(
            engine.ds,
            valid_batches,
            lm_forward_step,
            args.train.eval_iters,
            span_end_id=tokenizer.eop_id,
            span_start_id=tokenizer.sop_id,
        )

    params = sum(p.numel() for p in model.parameters()) * mpu.get_model_parallel_world_size()
    log = TrainingLog(
        log_dir,
        args.train.train_iters,
        state.iteration,
        args.log.log_interval,
        flops_per_token(params, config.num_layers, config.hidden_size, args.data.seq_length),
    )
    hooks = TrainHooks(evaluate=evaluate if valid_batches else None, save=save)
    try:
        start = state.iteration
        train_loop(
            engine,
            train_batches,
            lm_forward_step,
            args.train.train_iters,
            args.loop_config(),
            state,
            hooks,
            log,
        )
        if valid_batches is not None and state.iteration % args.train.eval_interval:
            log.evaluation(state, evaluate(state))
        if state.iteration > start and state.iteration % args.checkpoint.save_interval:
            save(state)
    finally:
        log.close()
    return state


if __name__ == "__main__":
    with exit_on_bad_input("pretrain_glm.py"):
        main(sys.argv[1:])
