"""Finetune or evaluate GLM on a task: ``python finetune_glm.py --task copa --data-dir ... ``.

args -> distributed -> tokenizer -> task (from the registry) -> datasets -> model/head ->
``--load-pretrained`` -> DeepSpeed engine -> epochs (dev metrics every ``--eval-epoch`` epochs;
the best by ``--validation-metric`` is saved as ``<save>/best`` with ``results.json``) -> final
evaluation on test (dev with ``--eval-valid`` or when there is no test split) ->
``test_results.json``. ``--epochs 0`` evaluates only. Outputs go to
``<summary-dir>/runs/<experiment-name>``.
"""

from __future__ import annotations

import logging
from itertools import cycle
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

import mpu
from arguments import parse_args
from checkpointing import resume_training_checkpoint
from data_utils.tokenization import build_tokenizer
from engine import build_engine
from tasks import get_task
from tasks.data_utils import collate
from tasks.pretrained import init_prompts, load_pretrained
from tasks.results import EpochEnd, check_results_absent, load_best_model, write_results
from train_utils import (
    TrainHooks,
    TrainState,
    evaluate_loss,
    exit_on_bad_input,
    initialize_distributed,
    set_random_seed,
    train_loop,
)
from training_log import TrainingLog, setup_logging

logger = logging.getLogger("glm")


def epoch_batches(loader, sampler, seed: int, consumed: int = 0):
    """Micro-batches epoch after epoch, reshuffled with ``seed + epoch``, from micro-batch
    ``consumed`` of that stream on: a resumed run continues where the saved one stopped, also
    inside an epoch, and skips the consumed samples without loading them."""
    epoch, skip = divmod(consumed, len(loader))
    while True:
        sampler.set_epoch(seed + epoch)
        if skip:
            rest = DataLoader(
                loader.dataset,
                batch_size=loader.batch_size,
                sampler=list(sampler)[skip * loader.batch_size :],
                collate_fn=loader.collate_fn,
                num_workers=loader.num_workers,
                drop_last=loader.drop_last,
            )
            # Starting an epoch draws a seed from torch's RNG, which the interrupted run did
            # before the checkpoint that restored the RNG: draw it from a copy.
            with torch.random.fork_rng(devices=[]):
                rest = iter(rest)
            yield from rest
            skip = 0
        else:
            yield from loader
        epoch += 1


def make_loader(dataset, args, spec, batch_size: int, shuffle: bool):
    sampler = DistributedSampler(
        dataset,
        num_replicas=mpu.get_data_parallel_world_size(),
        rank=mpu.get_data_parallel_rank(),
        shuffle=shuffle,
        seed=args.train.seed,
    )
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=getattr(dataset, "collate", None) or spec.collate or collate,
        num_workers=args.data.num_workers,
    )
    return loader, sampler


def train(args, spec, model, data, tokenizer, log_dir: Path, save_dir: Path | None):
    """Train for ``--epochs``; returns the trained module."""
    if spec.forward_step is None:
        raise ValueError(f"--task {spec.name} is evaluation only: run it with --epochs 0")
    if data.train is None:
        raise ValueError(f"--task {spec.name} has no training data in --data-dir")
    loader, sampler = make_loader(data.train, args, spec, args.train.batch_size, shuffle=True)
    steps_per_epoch = max(1, len(loader) // args.train.gradient_accumulation_steps)
    num_steps = args.train.epochs * steps_per_epoch
    engine = build_engine(model, args, train_iters=num_steps)
    state = TrainState()
    if args.checkpoint.load:
        restored = resume_training_checkpoint(
            engine,
            args.checkpoint.load,
            not args.checkpoint.no_load_optim,
            not args.checkpoint.no_load_rng,
            not args.checkpoint.no_load_lr_scheduler,
        )
        state = TrainState(**restored) if restored else state
    accumulation = args.train.gradient_accumulation_steps
    batches = epoch_batches(loader, sampler, args.train.seed, state.iteration * accumulation)

    def forward(batch, module):
        return spec.forward_step(batch, module, args)

    log = TrainingLog(log_dir, num_steps, state.iteration, args.log.log_interval)
    hooks = TrainHooks(
        on_step_end=EpochEnd(
            args, spec, engine, data, tokenizer, log, log_dir, save_dir, steps_per_epoch
        )
    )
    if data.dev is not None and not args.task.no_validation:
        eval_batch = args.train.eval_batch_size or args.train.batch_size
        dev_batches = cycle(make_loader(data.dev, args, spec, eval_batch, shuffle=False)[0])
        hooks.evaluate = lambda s: evaluate_loss(
            engine.ds, dev_batches, forward, args.train.eval_iters
        )
    logger.info("training %s: %d epochs x %d steps", spec.name, args.train.epochs, steps_per_epoch)
    train_loop(engine, batches, forward, num_steps, args, state, hooks, log)
    log.close()
    return engine.module


def prepare_model(args, spec, tokenizer, device):
    """The task's model with pretrained weights (and initial prompts) on ``device``; cast to
    --fp16/--bf16 when only evaluating (training casts through the engine)."""
    model = spec.build_model(args, tokenizer)
    if args.checkpoint.load_pretrained:
        tp_rank, tp_world = mpu.get_model_parallel_rank(), mpu.get_model_parallel_world_size()
        load_pretrained(model, args.checkpoint.load_pretrained, tp_rank, tp_world)
    if args.task.prompt_init:
        init_prompts(model, getattr(model, "task_tokens", None), args.train.seed)
    model.to(device)
    if not args.train.epochs and (args.optim.fp16 or args.optim.bf16):
        model.to(torch.float16 if args.optim.fp16 else torch.bfloat16)
    return model


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv, description="GLM finetuning and evaluation")
    if args.task.task is None:
        raise SystemExit("finetune_glm.py: error: --task is required")
    if args.task.data_dir and not Path(args.task.data_dir).is_dir():
        raise FileNotFoundError(
            f"--data-dir {args.task.data_dir} is not a folder: point it at the task's data "
            "(e.g. the folder holding COPA's train.jsonl and val.jsonl)"
        )
    device = initialize_distributed(args.parallel)
    setup_logging()
    set_random_seed(args.train.seed, device)
    tokenizer = build_tokenizer(args.tokenizer)
    spec = get_task(args.task.task)
    log_dir = Path(args.log.summary_dir or ".") / "runs" / args.train.experiment_name
    check_results_absent(log_dir, args.task.overwrite, args.checkpoint.load is not None)
    data = spec.build_datasets(args, tokenizer)
    model = prepare_model(args, spec, tokenizer, device)
    save_dir = (
        Path(args.checkpoint.save) / args.train.experiment_name if args.checkpoint.save else None
    )
    if args.train.epochs:
        model = train(args, spec, model, data, tokenizer, log_dir, save_dir)
        if save_dir is not None and load_best_model(model, save_dir):
            logger.info("reloaded the best checkpoint from %s", save_dir / "best")
    dataset, split = (
        (data.dev, "dev") if args.task.eval_valid or data.test is None else (data.test, "test")
    )
    if dataset is None:
        raise ValueError(f"--task {spec.name} found no dev or test data to evaluate")
    results = spec.evaluate(model, dataset, args, tokenizer, split, log_dir)
    kind = "test" if split == "test" else "validation"
    write_results(log_dir / "test_results.json", {**results, "type": kind})
    logger.info("%s results: %s", split, results)
    return results


if __name__ == "__main__":
    with exit_on_bad_input("finetune_glm.py"):
        main()
