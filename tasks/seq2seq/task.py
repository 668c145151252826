"""The seq2seq and blank-infilling tasks: datasets, model, loss, decoding evaluation.

Tasks: ``cnn_dm``, ``cnn_dm_original``, ``xsum``, ``gigaword``, ``squad_generation``,
``customization`` (ROUGE), ``squad`` (2.0) and ``squad_v1`` (EM/F1), ``cmrc`` (character
EM/F1), ``extraction`` and ``blank`` (filled texts, scored with ROUGE against the originals).
``--task squad`` is the generative SQuAD here; the cloze SQuAD is ``squad-cloze``.

Loss: token-mean cross entropy over the target tokens with ``--label-smoothing``, computed on
vocabulary-sharded logits (correct under tensor parallelism). Evaluation decodes every example
(beam search, or greedy blank filling) and writes ``<split>.jsonl.hyps`` / ``.refs`` (one line
per example) into the output folder; SQuAD also writes ``<split>.predictions.json``.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import torch
import torch.distributed as dist
from tqdm import tqdm

from model import GLMModel
from mpu import vocab_parallel_cross_entropy
from tasks.language_model.sample import collate_samples
from tasks.registry import TaskData, TaskSpec, register_task
from tasks.seq2seq.datasets import TASK_INPUTS, Lengths, TaskInputs, mask_id
from tasks.seq2seq.decoding import decode_blanks, decode_dataset, decode_spans, generation_config
from tasks.seq2seq.inputs import Seq2SeqDataset, Seq2SeqTokens
from tasks.seq2seq.metrics import rouge_scores, squad_scores
from tasks.seq2seq.squad import first_answers

logger = logging.getLogger(__name__)
SCORING_METRICS = {
    "rouge": ("rouge-1", "rouge-2", "rouge-l"),
    "blank": ("rouge-1", "rouge-2", "rouge-l"),
    "squad": ("F1", "EM"),
    "cmrc": ("F1", "EM"),
}


def _lengths(args) -> Lengths:
    src, tgt = args.task.src_seq_length, args.task.tgt_seq_length
    if src is None or tgt is None:
        raise ValueError(f"--task {args.task.task} needs --src-seq-length and --tgt-seq-length")
    return Lengths(src, tgt)


def _folder(args) -> Path:
    folder = args.task.data_dir or args.data.data_dir
    if folder is None:
        raise ValueError(f"--task {args.task.task} needs --data-dir (the folder of its files)")
    return Path(folder)


def build_split(args, tokenizer, split: int) -> Seq2SeqDataset:
    """The dataset of split 0 (train), 1 (dev) or 2 (test) of ``--task``."""
    inputs: TaskInputs = TASK_INPUTS[args.task.task.lower()]
    tokens = Seq2SeqTokens.from_tokenizer(
        tokenizer, mask_id(tokenizer, inputs.mask, args.tokenizer.task_mask)
    )
    lengths = _lengths(args)
    examples = inputs.encode(_folder(args), inputs.splits[split], tokenizer, tokens, lengths, args)
    legacy = args.task.legacy_source_padding and not args.task.mask_pad_token
    return Seq2SeqDataset(examples, tokens, lengths.src, lengths.tgt, legacy)


def build_datasets(args, tokenizer) -> TaskData:
    """Train and dev unless ``--epochs 0``; test when its files exist (required with
    ``--epochs 0``)."""
    evaluate_only = args.train.epochs == 0
    train = dev = test = None
    if not evaluate_only:
        train, dev = build_split(args, tokenizer, 0), build_split(args, tokenizer, 1)
    try:
        test = build_split(args, tokenizer, 2)
    except FileNotFoundError as error:
        if evaluate_only:
            raise
        logger.warning("no test split: %s", error)
    return TaskData(train=train, dev=dev, test=test)


def build_model(args, tokenizer) -> GLMModel:
    """Position tables long enough for the source and target (GLM raised
    ``--max-position-embeddings`` to ``--src-seq-length``; loading extends the tables)."""
    lengths = _lengths(args)
    positions = max(args.model.max_position_embeddings, lengths.src, lengths.tgt)
    config = args.model.glm_config(tokenizer.vocab_size, max_sequence_length=positions)
    return GLMModel(config, seed=args.train.seed)


def forward_step(batch: dict, model: torch.nn.Module, args) -> tuple[torch.Tensor, dict]:
    """Token-mean (label-smoothed) cross entropy over the target tokens."""
    device = next(model.parameters()).device
    logits = model(
        batch["input_ids"].to(device), batch["position_ids"].to(device), batch["sep"].to(device)
    )
    losses = vocab_parallel_cross_entropy(
        logits, batch["target_ids"].to(device), args.task.label_smoothing
    )
    mask = batch["loss_mask"].to(device).float()
    return (losses * mask).sum() / mask.sum().clamp(min=1.0), {}


def _decode(model, dataset: Seq2SeqDataset, args, tokenizer, blank: bool) -> list[str]:
    rank0 = not dist.is_initialized() or dist.get_rank() == 0
    config = generation_config(args, blank=blank)
    decoder = decode_blanks if blank else decode_spans
    batch_size = args.train.eval_batch_size or args.train.batch_size
    with tqdm(total=len(dataset), desc="decoding", disable=not rank0) as bar:
        outputs = decode_dataset(model, dataset, config, batch_size, decoder, bar.update)
    return [tokenizer.decode(ids) for ids in outputs]


def _write_lines(path: Path, lines: list[str]) -> None:
    path.write_text("".join(" ".join(line.split("\n")) + "\n" for line in lines), "utf-8")


def evaluate(model, dataset: Seq2SeqDataset, args, tokenizer, split: str, output_dir) -> dict:
    """Decode ``dataset``, write the outputs (rank 0), return the task's metrics."""
    scoring = TASK_INPUTS[args.task.task.lower()].scoring
    hyps = _decode(model, dataset, args, tokenizer, blank=scoring == "blank")
    refs = [ex.reference for ex in dataset.examples]
    write = output_dir is not None and (not dist.is_initialized() or dist.get_rank() == 0)
    if write:
        folder = Path(output_dir)
        folder.mkdir(parents=True, exist_ok=True)
        _write_lines(folder / f"{split}.jsonl.hyps", hyps)
        _write_lines(folder / f"{split}.jsonl.refs", refs)
    if scoring in ("rouge", "blank"):
        fix = (
            args.tokenizer.tokenizer_type == "BertWordPieceTokenizer"
            or args.task.task == "gigaword"
        )
        return rouge_scores(hyps, refs, fix=fix)
    qids = [ex.meta["qid"] for ex in dataset.examples]
    predictions = first_answers(qids, hyps)
    answers = {ex.meta["qid"]: ex.meta["answers"] for ex in dataset.examples}
    if write:
        text = json.dumps(predictions, ensure_ascii=False, indent=1)
        (Path(output_dir) / f"{split}.predictions.json").write_text(text, "utf-8")
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
