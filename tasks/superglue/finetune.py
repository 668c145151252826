"""The SuperGLUE/GLUE/CLUE cloze and classification tasks as registry entries.

With ``--cloze-eval`` a task is scored through its PVP: single-token tasks by the verbalizer
logits at the mask (``GLMForSingleTokenCloze``), multi-token tasks (COPA, WSC, ReCoRD, RACE,
SQuAD) by each candidate's log-likelihood (``GLMForMultiTokenCloze``, or the ``--fast-decode``
variant). Without it, a pooled classification head scores labels or candidates. WSC without
``--wsc-negative`` trains as a language model on the referent (the generative regime).
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from data_utils.blank_infilling import InfillIds
from model import GLMModel
from model.heads import (
    GLMForMultiTokenCloze,
    GLMForMultiTokenClozeFast,
    GLMForSequenceClassification,
    GLMForSingleTokenCloze,
)
from mpu import get_data_parallel_rank
from tasks.registry import TaskData, TaskSpec, register_task
from tasks.superglue.classification import CHOICE_TASKS
from tasks.superglue.cotrain import PatternTextMix, blank_infilling_loss
from tasks.superglue.dataset import (
    PVPS,
    DataSettings,
    build_pvp,
    build_task_dataset,
    split_exists,
)
from tasks.superglue.evaluate import evaluate_predictions, predict
from tasks.superglue.metrics import task_metrics
from tasks.superglue.processors import PROCESSORS
from tasks.superglue.pvp import ClozeOptions
from tasks.superglue.scoring import cloze_loss, compute_scores, lm_loss


def task_name(args) -> str:
    return args.task.task.lower()


def is_wsc_generative(args) -> bool:
    return (
        task_name(args) in ("wsc", "wsc1") and args.task.cloze_eval and not args.task.wsc_negative
    )


def data_settings(args) -> DataSettings:
    t = args.task
    options = ClozeOptions(
        max_seq_length=args.data.seq_length,
        pattern_id=t.pattern_id,
        continuous_prompt=t.continuous_prompt,
        num_prompt_tokens=t.num_prompt_tokens,
        prefix_prompt=t.prefix_prompt,
        segment_length=t.segment_length,
        fast_decode=t.fast_decode,
        block_position=args.masking.block_position_encoding,
        wsc_negative=t.wsc_negative,
    )
    if t.data_dir is None:
        raise ValueError(f"--data-dir is not set: give the folder holding the {t.task} files")
    return DataSettings(t.data_dir, options, t.cloze_eval, t.few_superglue, is_wsc_generative(args))


def build_datasets(args, tokenizer) -> TaskData:
    task, settings = task_name(args), data_settings(args)
    train_needed = (args.train.epochs or 0) > 0
    split = {
        name: build_task_dataset(task, name, tokenizer, settings)
        if (name == "train" and train_needed)
        or (name != "train" and split_exists(task, name, settings))
        else None
        for name in ("train", "dev", "test")
    }
    train = split["train"]
    if train is not None and args.task.block_lm_ratio > 0:
        if train.pvp is None or settings.wsc_generative:
            raise ValueError(
                "--block-lm-ratio co-trains on pattern texts: it needs --cloze-eval "
                "(and --wsc-negative for WSC)"
            )
        ids = InfillIds.from_tokenizer(tokenizer)
        train = PatternTextMix(
            train,
            args.task.block_lm_ratio,
            args.masking,
            ids,
            args.train.seed,
            get_data_parallel_rank(),
        )
    return TaskData(train, split["dev"], split["test"])


def freeze_transformer(model: GLMModel, tune_prefix_layers: int | None) -> None:
    """``--freeze-transformer``: only prompts, heads and the first ``tune_prefix_layers``
    transformer layers keep training."""
    for parameter in [*model.word_embeddings.parameters(), *model.transformer.parameters()]:
        parameter.requires_grad_(False)
    for layer in model.transformer.layers[: tune_prefix_layers or 0]:
        layer.requires_grad_(True)


def build_model(args, tokenizer) -> nn.Module:
    task, t = task_name(args), args.task
    pvp = build_pvp(task, tokenizer, data_settings(args).cloze, "train") if t.cloze_eval else None
    config = args.model.glm_config(
        tokenizer.vocab_size,
        spell_length=pvp.spell_length if pvp else 0,
        spell_func=t.prompt_func,
        output_predict=t.cloze_eval,
    )
    glm = GLMModel(config, seed=args.train.seed)
    if t.freeze_transformer:
        freeze_transformer(glm, t.tune_prefix_layers)
    if not t.cloze_eval:
        classes = 1 if task in CHOICE_TASKS else len(PROCESSORS[task].labels)
        return GLMForSequenceClassification(
            glm, args.model.hidden_size, args.model.output_dropout, t.pool_token, classes
        )
    if pvp.multi_token or is_wsc_generative(args):
        head = GLMForMultiTokenClozeFast if t.fast_decode else GLMForMultiTokenCloze
        return head(glm, take_softmax=True, length_penalty=t.length_penalty)
    model = GLMForSingleTokenCloze(glm, take_softmax=t.adapet)
    model.task_tokens = pvp.verbalizer_ids()
    return model


def _to_device(batch: dict, model) -> dict:
    device = next(model.parameters()).device
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def forward_step(batch: dict, model, args) -> tuple[torch.Tensor, dict[str, float]]:
    batch = _to_device(batch, model)
    if "tokens" in batch:
        return blank_infilling_loss(model, batch), {"tokens": batch["tokens"].numel()}
    if is_wsc_generative(args):
        return lm_loss(model, batch), {"tokens": batch["input_ids"].numel()}
    scores = compute_scores(model, batch)
    loss = cloze_loss(scores, batch["label"], args.task.loss_func, args.task.adapet)
    accuracy = (scores.argmax(-1) == batch["label"]).float().mean().item()
    return loss, {"accuracy": accuracy, "tokens": batch["input_ids"].numel()}


def evaluate(model, dataset, args, tokenizer, split: str, output_dir: Path | None) -> dict:
    task = task_name(args)
    wsc_mode = None
    if task in ("wsc", "wsc1") and args.task.cloze_eval:
        wsc_mode = "generative" if is_wsc_generative(args) else "choices"
    batch_size = args.train.eval_batch_size or args.train.batch_size
    predictions = predict(model, dataset, batch_size, wsc_mode)
    return evaluate_predictions(task, dataset, predictions, split, output_dir)


def _register() -> None:
    for task in PROCESSORS:
        register_task(
            TaskSpec(
                name=task,
                family="cloze" if task in PVPS else "classification",
                build_datasets=build_datasets,
                build_model=build_model,
                forward_step=forward_step,
                evaluate=evaluate,
                metrics=tuple(name for name, _ in task_metrics(task)),
            )
        )


_register()
