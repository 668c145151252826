"""The seq2seq and blank-infilling tasks: datasets, model, loss, decoding evaluation.

Tasks: ``cnn_dm``, ``cnn_dm_original``, ``xsum``, ``gigaword``, ``squad_generation``,
``customization`` (ROUGE), ``squad`` (2.0) and ``squad_v1`` (EM/F1), ``cmrc`` (character
EM/F1), ``extraction`` and ``blank`` (filled texts, scored with ROUGE against the originals).
``--task squad`` is the generative SQuAD here; the cloze SQuAD is ``squad-cloze``.

Loss: token-mean cross entropy over the target tokens with ``--label-smoothing``, computed on
vocabulary-sharded logits (correct under tensor parallelism). Evaluation decodes every example
(beam search, or greedy blank filling) and writes ``<split>.jsonl.hyps`` / ``.refs`` (one line
per example, GLM's files) and ``<split>.scores.jsonl`` (per example: every beam hypothesis with
its length-normalised score, best first, the output and the reference) into the output folder;
SQuAD also writes ``<split>.predictions.json``.
"""

from __future__ import annotations

import json
import logging
from dataclasses import replace
from pathlib import Path

import torch
from tqdm import tqdm

from common.atomic import atomic_write_text
from model import GLMModel
from mpu import is_rank_0, vocab_parallel_cross_entropy
from tasks.config import Seq2SeqConfig
from tasks.glm_samples import collate_samples
from tasks.registry import TaskData, TaskSpec, register_task
from tasks.seq2seq.datasets import TASK_INPUTS, Lengths, TaskInputs, mask_id
from tasks.seq2seq.decoding import (
    blank_generation,
    decode_blanks,
    decode_dataset,
    span_hypotheses,
)
from tasks.seq2seq.inputs import Seq2SeqDataset, Seq2SeqTokens
from tasks.seq2seq.metrics import rouge_scores, squad_scores
from tasks.seq2seq.squad import first_answers
from tasks.task_io import write_jsonl, write_lines

logger = logging.getLogger(__name__)
SCORING_METRICS = {
    "rouge": ("rouge-1", "rouge-2", "rouge-l"),
    "blank": ("rouge-1", "rouge-2", "rouge-l"),
    "squad": ("F1", "EM"),
    "cmrc": ("F1", "EM"),
}


def _folder(config: Seq2SeqConfig) -> Path:
    if config.run.data_dir is None:
        raise ValueError(f"--task {config.run.name} needs --data-dir (the folder of its files)")
    return config.run.data_dir


def build_split(config: Seq2SeqConfig, tokenizer, split: int) -> Seq2SeqDataset:
    """The dataset of split 0 (train), 1 (dev) or 2 (test) of ``--task``."""
    inputs: TaskInputs = TASK_INPUTS[config.run.name]
    tokens = Seq2SeqTokens.from_tokenizer(
        tokenizer, mask_id(tokenizer, inputs.mask, config.task_mask)
    )
    lengths = Lengths(config.src_seq_length, config.tgt_seq_length)
    examples = inputs.encode(
        _folder(config), inputs.splits[split], tokenizer, tokens, lengths, config
    )
    return Seq2SeqDataset(examples, tokens, lengths.src, lengths.tgt, config.legacy_source_padding)


def build_datasets(config: Seq2SeqConfig, tokenizer) -> TaskData:
    """Train and dev unless ``--epochs 0``; test when its files exist (required with
    ``--epochs 0``)."""
    train = dev = test = None
    if config.run.training:
        train, dev = build_split(config, tokenizer, 0), build_split(config, tokenizer, 1)
    try:
        test = build_split(config, tokenizer, 2)
    except FileNotFoundError as error:
        if not config.run.training:
            raise
        logger.warning("no test split: %s", error)
    return TaskData(train=train, dev=dev, test=test)


def build_model(config: Seq2SeqConfig, tokenizer) -> GLMModel:
    """Position tables long enough for the source and target (GLM raised
    ``--max-position-embeddings`` to ``--src-seq-length``; loading extends the tables)."""
    model = config.run.model
    positions = max(model.max_sequence_length, config.src_seq_length, config.tgt_seq_length)
    return GLMModel(replace(model, max_sequence_length=positions), seed=config.run.seed)


def forward_step(
    batch: dict, model: torch.nn.Module, config: Seq2SeqConfig
) -> tuple[torch.Tensor, dict]:
    """Token-mean (label-smoothed) cross entropy over the target tokens."""
    device = next(model.parameters()).device
    logits = model(
        batch["input_ids"].to(device), batch["position_ids"].to(device), batch["sep"].to(device)
    )
    losses = vocab_parallel_cross_entropy(
        logits, batch["target_ids"].to(device), config.label_smoothing
    )
    mask = batch["loss_mask"].to(device).float()
    return (losses * mask).sum() / mask.sum().clamp(min=1.0), {}


def _decode(model, dataset: Seq2SeqDataset, config: Seq2SeqConfig, tokenizer, blank: bool):
    """The output text of every example, and its beam hypotheses ``[(text, score), ...]``
    best first (None for greedy blank filling)."""
    generation = blank_generation(config.generation) if blank else config.generation
    decoder = decode_blanks if blank else span_hypotheses
    with tqdm(total=len(dataset), desc="decoding", disable=not is_rank_0()) as bar:
        outputs = decode_dataset(
            model, dataset, generation, config.run.eval_batch_size, decoder, bar.update
        )
    if blank:
        return [tokenizer.decode(ids) for ids in outputs], [None] * len(outputs)
    hypotheses = [[(tokenizer.decode(h.ids), h.score) for h in ranked] for ranked in outputs]
    return [h[0][0] if h else "" for h in hypotheses], hypotheses


def score_records(dataset: Seq2SeqDataset, hyps: list[str], hypotheses: list) -> list[dict]:
    """One line per example: its beam hypotheses with their length-normalised scores (the
    first is the output), the output and the reference."""
    return [
        {
            "id": ex.uid,
            **({"qid": ex.meta["qid"]} if "qid" in ex.meta else {}),
            "hypotheses": None
            if ranked is None
            else [{"text": text, "score": score} for text, score in ranked],
            "prediction": hyp,
            "label": ex.reference,
        }
        for ex, hyp, ranked in zip(dataset.examples, hyps, hypotheses, strict=True)
    ]


def evaluate(
    model, dataset: Seq2SeqDataset, config: Seq2SeqConfig, tokenizer, split: str, output_dir
) -> dict:
    """Decode ``dataset``, write the outputs (rank 0), return the task's metrics."""
    scoring = TASK_INPUTS[config.run.name].scoring
    hyps, hypotheses = _decode(model, dataset, config, tokenizer, blank=scoring == "blank")
    refs = [ex.reference for ex in dataset.examples]
    if output_dir is not None:
        write_lines(Path(output_dir) / f"{split}.jsonl.hyps", hyps)
        write_lines(Path(output_dir) / f"{split}.jsonl.refs", refs)
        write_jsonl(
            Path(output_dir) / f"{split}.scores.jsonl", score_records(dataset, hyps, hypotheses)
        )
    if scoring in ("rouge", "blank"):
        # GLM's choice of fix: the BERT tokenizer's outputs first, then Gigaword's [UNK]
        fix = (
            "ptb"
            if config.bert_tokenizer
            else "gigaword"
            if config.run.name == "gigaword"
            else None
        )
        return rouge_scores(hyps, refs, fix=fix)
    qids = [ex.meta["qid"] for ex in dataset.examples]
    predictions = first_answers(qids, hyps)
    answers = {ex.meta["qid"]: ex.meta["answers"] for ex in dataset.examples}
    if output_dir is not None and is_rank_0():
        text = json.dumps(predictions, ensure_ascii=False, indent=1)
        atomic_write_text(Path(output_dir) / f"{split}.predictions.json", text)
    return squad_scores(predictions, answers, char_level=scoring == "cmrc")


def _register() -> None:
    for name, inputs in TASK_INPUTS.items():
        register_task(
            TaskSpec(
                name=name,
                family="blank" if inputs.scoring == "blank" else "seq2seq",
                build_datasets=build_datasets,
                build_model=build_model,
                forward_step=forward_step,
                evaluate=evaluate,
                metrics=SCORING_METRICS[inputs.scoring],
                collate=collate_samples,
            )
        )


_register()
