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
from itertools import cycle
from pathlib import Path

import torch

import mpu
from arguments import GLMArgs, parse_args
from checkpointing import (
    load_model_checkpoint,
    resume_training_checkpoint,
    save_training_checkpoint,
)
from data_utils.blank_infilling import BlankInfillingCollator, InfillIds
from data_utils.datasets import DataConfig, PackingIds, build_block_datasets
from data_utils.samplers import build_pretrain_loader
from data_utils.store_paths import resolve_stores
from data_utils.token_store import tokenizer_fingerprint
from data_utils.tokenization import build_tokenizer
from engine import build_engine
from model import GLMModel
from train_utils import (
    TrainHooks,
    TrainState,
    evaluate_loss,
    exit_on_bad_input,
    initialize_distributed,
    lm_forward_step,
    model_parallel_batches,
    set_random_seed,
    train_loop,
)
from training_log import TrainingLog, flops_per_token, setup_logging

logger = logging.getLogger("glm")


def run_directories(args: GLMArgs) -> tuple[Path | None, Path]:
    """Save and log folders. GLM's naming: ``<save>/<experiment><MM-DD-HH-MM>``, or the loaded
    run's own folder name when resuming (unless --new-save-directory)."""
    ckpt = args.checkpoint
    if ckpt.load and not ckpt.new_save_directory:
        name = Path(ckpt.load).resolve().name
    else:
        name = args.train.experiment_name + datetime.now().strftime("%m-%d-%H-%M")
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
        valid_data=tuple(resolve_stores(data.valid_data or ())),
        test_data=tuple(resolve_stores(data.test_data or ())),
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

    def loader(dataset, consumed: int, batch_size: int, offset: int):
        collator = BlankInfillingCollator(args.masking, ids, seed + offset, dp_rank)
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
    if valid_set is not None:
        valid = cycle(loader(valid_set, 0, args.train.eval_batch_size, 1))
    return train, valid


def main(argv: list[str] | None = None) -> TrainState:
    args = parse_args(argv, "GLM pretraining")
    device = initialize_distributed(args.parallel)
    setup_logging()
    if args.data.filter_english:
        logger.warning(
            "--filter-english: documents are not language-filtered while training; keep "
            "non-English text out of the corpus given to scripts/preprocess_data.py"
        )
    set_random_seed(args.train.seed, device)
    tokenizer = build_tokenizer(args.tokenizer)
    save_dir, log_dir = run_directories(args)

    config = args.model.glm_config(tokenizer.vocab_size)
    model = GLMModel(config, seed=args.train.seed).to(device)
    engine = build_engine(model, args, args.train.train_iters)
    state = TrainState()
    ckpt = args.checkpoint
    if ckpt.load:
        resumed = (
            None
            if ckpt.finetune
            else resume_training_checkpoint(
                engine,
                ckpt.load,
                load_optimizer=not ckpt.no_load_optim,
                load_rng=not ckpt.no_load_rng,
                load_lr_scheduler=not ckpt.no_load_lr_scheduler,
            )
        )
        if resumed is None:  # a release checkpoint, or --finetune: weights only
            load_model_checkpoint(
                engine.module,
                ckpt.load,
                mpu.get_model_parallel_rank(),
                mpu.get_model_parallel_world_size(),
            )
        else:
            state = TrainState(**resumed)
            if args.schedule.switch_linear:
                engine.scheduler.switch_to_linear(args.train.train_iters - state.iteration)
        logger.info("loaded %s at iteration %d", ckpt.load, state.iteration)

    train_reader, valid_reader = build_loaders(args, tokenizer, state)
    train_batches = model_parallel_batches(train_reader, device)
    has_valid = _shared_flag(valid_reader is not None)
    valid_batches = model_parallel_batches(valid_reader, device) if has_valid else None

    def save(s: TrainState) -> None:
        if save_dir is not None:
            save_training_checkpoint(
                engine,
                save_dir,
                vars(s),
                args.to_dict(),
                ckpt.keep_last_n,
                not ckpt.no_save_optim,
                not ckpt.no_save_rng,
            )

    def evaluate(s: TrainState) -> dict:
        return evaluate_loss(engine.ds, valid_batches, lm_forward_step, args.train.eval_iters)

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
            engine, train_batches, lm_forward_step, args.train.train_iters, args, state, hooks, log
        )
        if valid_batches is not None and state.iteration % args.train.eval_interval:
            log.evaluation(state, evaluate(state))
        if state.iteration > start and state.iteration % ckpt.save_interval:
            save(state)
    finally:
        log.close()
    return state


if __name__ == "__main__":
    with exit_on_bad_input("pretrain_glm.py"):
        main(sys.argv[1:])
