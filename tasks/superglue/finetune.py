"""The SuperGLUE/GLUE/CLUE cloze and classification tasks as registry entries.

With ``--cloze-eval`` a task is scored through its PVP: single-token tasks by the verbalizer
logits at the mask (``GLMForSingleTokenCloze``), multi-token tasks (COPA, WSC, ReCoRD, RACE,
SQuAD) by each candidate's log-likelihood (``GLMForMultiTokenCloze``, or the ``--fast-decode``
variant). Without it, a pooled classification head scores labels or candidates. WSC without
``--wsc-negative`` trains as a language model on the referent (the generative regime).
Every function here reads a ``ClozeTaskConfig``.
"""

from __future__ import annotations

from dataclasses import replace
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
from tasks.config import ClozeTaskConfig
from tasks.registry import TaskData, TaskSpec, register_task
from tasks.superglue.classification import CHOICE_TASKS
from tasks.superglue.cotrain import PatternTextMix, blank_infilling_loss
from tasks.superglue.dataset import PVPS, build_pvp, build_task_dataset, split_exists
from tasks.superglue.evaluate import evaluate_predictions, predict
from tasks.superglue.metrics import task_metrics
from tasks.superglue.processors import PROCESSORS
from tasks.superglue.scoring import cloze_loss, compute_scores, lm_loss


def build_datasets(config: ClozeTaskConfig, tokenizer) -> TaskData:
    split = {
        name: build_task_dataset(name, tokenizer, config)
        if (name == "train" and config.run.training)
        or (name != "train" and split_exists(name, config))
        else None
        for name in ("train", "dev", "test")
    }
    train = split["train"]
    if train is not None and config.block_lm_ratio > 0:
        if train.pvp is None or config.wsc_generative:
            raise ValueError(
                "--block-lm-ratio co-trains on pattern texts: it needs --cloze-eval "
                "(and --wsc-negative for WSC)"
            )
        ids = InfillIds.from_tokenizer(tokenizer)
        train = PatternTextMix(
            train,
            config.block_lm_ratio,
            config.masking,
            ids,
            config.run.seed,
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


def build_model(config: ClozeTaskConfig, tokenizer) -> nn.Module:
    task = config.run.name
    pvp = build_pvp(task, tokenizer, config.cloze, "train") if config.cloze_eval else None
    glm_config = replace(
        config.run.model,
        spell_length=pvp.spell_length if pvp else 0,
        spell_func=config.prompt_func,
        output_predict=config.cloze_eval,
    )
    glm = GLMModel(glm_config, seed=config.run.seed)
    if config.freeze_transformer:
        freeze_transformer(glm, config.tune_prefix_layers)
    if not config.cloze_eval:
        classes = 1 if task in CHOICE_TASKS else len(PROCESSORS[task].labels)
        hidden = config.run.model.hidden_size
        return GLMForSequenceClassification(
            glm, hidden, config.output_dropout, config.pool_token, classes
        )
    if pvp.multi_token or config.wsc_generative:
        head = GLMForMultiTokenClozeFast if config.cloze.fast_decode else GLMForMultiTokenCloze
        return head(glm, take_softmax=True, length_penalty=config.length_penalty)
    model = GLMForSingleTokenCloze(glm, take_softmax=config.adapet)
    model.task_tokens = pvp.verbalizer_ids()
    return model


def _to_device(batch: dict, model) -> dict:
    device = next(model.parameters()).device
    return {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def forward_step(batch: dict, model, config: ClozeTaskConfig) -> tuple[torch.Tensor, dict]:
    batch = _to_device(batch, model)
    if "tokens" in batch:
        return blank_infilling_loss(model, batch), {"tokens": batch["tokens"].numel()}
    if config.wsc_generative:
        return lm_loss(model, batch), {"tokens": batch["input_ids"].numel()}
    scores = compute_scores(model, batch)
    loss = cloze_loss(scores, batch["label"], config.loss_func, config.adapet)
    accuracy = (scores.argmax(-1) == batch["label"]).float().mean().item()
    return loss, {"accuracy": accuracy, "tokens": batch["input_ids"].numel()}


def evaluate(
    model, dataset, config: ClozeTaskConfig, tokenizer, split: str, output_dir: Path | None
) -> dict:
    task = config.run.name
    wsc_mode = None
    if task in ("wsc", "wsc1") and config.cloze_eval:
        wsc_mode = "generative" if config.wsc_generative else "choices"
    predicted = predict(model, dataset, config.run.eval_batch_size, wsc_mode)
    wsc_choices = wsc_mode == "choices"
    return evaluate_predictions(task, dataset, predicted, split, output_dir, wsc_choices)


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
