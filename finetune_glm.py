"""Finetune or evaluate GLM on a task: ``python finetune_glm.py --task copa --data-dir ... ``.

args -> distributed -> tokenizer -> task (from the registry) and its typed config -> datasets
-> model/head -> ``--load-pretrained`` -> DeepSpeed engine -> epochs (dev metrics every
``--eval-epoch`` epochs; the best by ``--validation-metric`` is saved as ``<save>/best`` with
``results.json``) -> final evaluation on test (dev with ``--eval-valid`` or when there is no test
split) -> ``test_results.json``. ``--epochs 0`` evaluates only. Outputs go to
``<summary-dir>/runs/<experiment-name>``.
"""

from __future__ import annotations

import logging
from itertools import cycle
from pathlib import Path

import torch
from torch.utils.data import DataLoader, DistributedSampler

import mpu
from common.errors import exit_on_bad_input
from data_utils.tokenization import build_tokenizer
from tasks import TaskSpec, get_task
from tasks.cloze_samples import collate
from tasks.config import TaskConfig
from tasks.pretrained import init_prompts, load_pretrained
from tasks.task_io import check_results_absent, write_results
from training.arguments import GLMArgs, parse_args
from training.checkpointing import (
    resume_training_checkpoint,
    save_training_checkpoint,
    training_state,
)
from training.engine import build_engine
from training.epochs import EpochConfig, EpochEnd, epoch_batches, load_best_model
from training.evaluation import evaluate_loss
from training.log import TrainingLog, setup_logging
from training.loop import TrainHooks, TrainState, train_loop

logger = logging.getLogger("glm")


def make_loader(dataset, spec: TaskSpec, batch_size: int, shuffle: bool, seed: int, workers: int):
    sampler = DistributedSampler(
        dataset,
        num_replicas=mpu.get_data_parallel_world_size(),
        rank=mpu.get_data_parallel_rank(),
        shuffle=shuffle,
        seed=seed,
    )
    collate_fn = getattr(dataset, "collate", None) or spec.collate or collate
    # a generator of its own: starting an iterator must not draw from dropout's RNG stream
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        collate_fn=collate_fn,
        num_workers=workers,
        generator=torch.Generator().manual_seed(seed),
    )
    return loader, sampler


def train(args: GLMArgs, spec: TaskSpec, config: TaskConfig, model, data, tokenizer, dirs):
    """Train for ``--epochs``; returns the trained module."""
    log_dir, save_dir = dirs
    if spec.forward_step is None:
        raise ValueError(f"--task {spec.name} is evaluation only: run it with --epochs 0")
    if data.train is None:
        raise ValueError(f"--task {spec.name} has no training data in --data-dir")
    t = args.train
    loader, sampler = make_loader(
        data.train, spec, t.batch_size, True, t.seed, args.data.num_workers
    )
    steps_per_epoch = max(1, len(loader) // t.gradient_accumulation_steps)
    num_steps = t.epochs * steps_per_epoch
    engine = build_engine(model, args.engine_config(), train_iters=num_steps)
    state = TrainState()
    if args.checkpoint.load:
        if training_state(args.checkpoint.load) is None:
            raise ValueError(
                f"--load {args.checkpoint.load} holds weights only, no finetuning run to resume: "
                "pass it as --load-pretrained"
            )
        state = TrainState(
            **resume_training_checkpoint(engine, args.checkpoint.load, args.resume_options())
        )
    consumed = state.iteration * t.gradient_accumulation_steps
    batches = epoch_batches(loader, sampler, t.seed, consumed)

    def forward(batch, module):
        return spec.forward_step(batch, module, config)

    def save(s: TrainState) -> None:
        save_training_checkpoint(engine, save_dir, vars(s), args.to_dict(), args.save_options())

    def on_best(results: dict, epoch: int) -> None:
        write_results(log_dir / "results.json", {**results, "type": "validation", "epoch": epoch})

    validate = data.dev is not None and not args.task.no_validation
    log = TrainingLog(log_dir, num_steps, state.iteration, args.log.log_interval)
    epochs = EpochConfig(
        steps_per_epoch,
        args.checkpoint.save_epoch,
        t.eval_epoch,
        validate,
        args.task.validation_metric or spec.metrics[0],
    )
    hooks = TrainHooks(
        on_step_end=EpochEnd(
            epochs,
            engine,
            lambda module: spec.evaluate(module, data.dev, config, tokenizer, "dev", log_dir),
            save if save_dir is not None else None,
            on_best,
            log,
            save_dir,
        )
    )
    if validate:
        dev = make_loader(data.dev, spec, t.eval_batch_size, False, t.seed, args.data.num_workers)
        dev_batches = cycle(dev[0])
        hooks.evaluate = lambda s: evaluate_loss(engine.ds, dev_batches, forward, t.eval_iters)
    logger.info("training %s: %d epochs x %d steps", spec.name, t.epochs, steps_per_epoch)
    train_loop(engine, batches, forward, num_steps, args.loop_config(), state, hooks, log)
    log.close()
    return engine.module


def prepare_model(args: GLMArgs, spec: TaskSpec, config: TaskConfig, tokenizer, device):
    """The task's model with pretrained weights (and initial prompts) on ``device``; cast to
    --fp16/--bf16 when only evaluating (training casts through the engine)."""
    model = spec.build_model(config, tokenizer)
    if args.checkpoint.load_pretrained:
        tp_rank, tp_world = mpu.get_model_parallel_rank(), mpu.get_model_parallel_world_size()
        verify = not args.checkpoint.no_verify_checkpoint
        load_pretrained(model, args.checkpoint.load_pretrained, tp_rank, tp_world, verify)
    if args.task.prompt_init:
        init_prompts(model, getattr(model, "task_tokens", None), args.train.seed)
    model.to(device)
    if not args.train.epochs and (args.optim.fp16 or args.optim.bf16):
        model.to(torch.float16 if args.optim.fp16 else torch.bfloat16)
    return model


def main(argv: list[str] | None = None) -> dict[str, float]:
    args = parse_args(argv, description="GLM finetuning and evaluation")
    if args.task.task is None:
        raise ValueError("--task is required (e.g. --task copa)")
    if args.data.data_dir and not Path(args.data.data_dir).is_dir():
        raise FileNotFoundError(
            f"--data-dir {args.data.data_dir} is not a folder: point it at the task's data "
            "(e.g. the folder holding COPA's train.jsonl and val.jsonl)"
        )
    spec = get_task(args.task.task)
    parallel = args.parallel
    device = mpu.initialize_distributed(
        parallel.model_parallel_size, parallel.distributed_backend, parallel.local_rank
    )
    setup_logging()
    mpu.set_random_seed(args.train.seed, device)
    tokenizer = build_tokenizer(args.tokenizer_config())
    config = args.task_config(spec.family, tokenizer.vocab_size)
    log_dir = Path(args.log.summary_dir or ".") / "runs" / args.log.experiment_name
    check_results_absent(log_dir, args.task.overwrite, args.checkpoint.load is not None)
    data = spec.build_datasets(config, tokenizer)
    model = prepare_model(args, spec, config, tokenizer, device)
    save = args.checkpoint.save
    save_dir = Path(save) / args.log.experiment_name if save else None
    if args.train.epochs:
        model = train(args, spec, config, model, data, tokenizer, (log_dir, save_dir))
        if save_dir is not None and load_best_model(model, save_dir):
            logger.info("reloaded the best checkpoint from %s", save_dir / "best")
    dataset, split = (
        (data.dev, "dev") if args.task.eval_valid or data.test is None else (data.test, "test")
    )
    if dataset is None:
        raise ValueError(f"--task {spec.name} found no dev or test data to evaluate")
    results = spec.evaluate(model, dataset, config, tokenizer, split, log_dir)
    kind = "test" if split == "test" else "validation"
    write_results(log_dir / "test_results.json", {**results, "type": kind})
    logger.info("%s results: %s", split, results)
    return results


if __name__ == "__main__":
    with exit_on_bad_input("finetune_glm.py"):
        main()
