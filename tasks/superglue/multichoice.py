"""Zero-shot multiple choice (``--task multichoice``): score each choice's log-likelihood.

Data: the JSON-lines files of ``--test-data`` (glob patterns, ``**`` recursive), one record per
line: ``{"inputs_pretokenized": str, "choices_pretokenized": [str, ...], "label": int}``.

Bidirectional (default), per choice: ``[CLS] input [MASK] [eos] [sop] choice[:-1]`` (a
``[MASK]`` is appended when the input has no blank; the input keeps its last tokens when too
long); the choice tokens are scored with no ``[eop]``. ``--unidirectional``:
``[CLS] [gMASK] [sop] input choice[:-1]``, the whole text in Part B at position 1 and block
positions 1.., only the choice tokens scored. Score = sum of log-probs, divided by
``len(choice) ** --length-penalty`` when that is > 0; the prediction is the best choice.

Outputs per test file, as GLM named them: ``multichoice-<name>.jsonl`` (``{"idx": "<record
number in the file>", "label": int}``) and ``multichoice-<name>.scores.jsonl`` (every choice's
score, the prediction and the label).
"""

from __future__ import annotations

import glob
from pathlib import Path
from typing import Any

import numpy as np

from model import GLMModel
from model.heads import GLMForMultiTokenCloze
from tasks.cloze_samples import InputExample, build_cloze_input, stack_rows
from tasks.config import MultichoiceConfig
from tasks.registry import TaskData, TaskSpec, register_task
from tasks.superglue.dataset import TaskDataset
from tasks.superglue.evaluate import predict
from tasks.superglue.metrics import accuracy
from tasks.task_io import DataError, read_jsonl, write_jsonl


def expand_files(patterns: tuple[str, ...]) -> list[Path]:
    files = []
    for pattern in patterns:
        matches = sorted(glob.glob(pattern, recursive=True))
        if not matches:
            raise FileNotFoundError(f"--test-data {pattern} matches no file")
        files += [Path(m) for m in matches]
    return files


def prediction_name(path: Path) -> str:
    """GLM's name for a file's predictions: ``multichoice-<name up to its first dot>``."""
    return "multichoice-" + path.name.split(".")[0]


def read_multichoice(files: list[Path]) -> list[InputExample]:
    """The records of every file; ``idx`` is the record's position in its file (a string, as
    GLM wrote it). Labels are optional, but all or none."""
    names = [prediction_name(p) for p in files]
    if len(set(names)) < len(names):
        twice = next(n for n in names if names.count(n) > 1)
        raise DataError(f"--test-data: two files would both write {twice}.jsonl: rename one")
    examples, unlabelled = [], []
    for path in files:
        for number, rec in enumerate(read_jsonl(path)):
            choices = rec.get("choices_pretokenized", kind=list)
            if not choices or not all(isinstance(c, str) for c in choices):
                raise DataError(
                    f"{rec.where()}: field 'choices_pretokenized' must be a "
                    "non-empty list of strings"
                )
            label = rec.get("label", kind=int, default=None)
            if label is not None and not 0 <= label < len(choices):
                raise DataError(
                    f"{rec.where()}: field 'label' is {label}, expected 0..{len(choices) - 1}"
                )
            text = rec.get("inputs_pretokenized", kind=str)
            if label is None:
                unlabelled.append(rec.where())
            meta = {"choices": choices, "file": path}
            label = None if label is None else str(label)
            guid = f"{path.name}-{rec.line}"
            examples.append(
                InputExample(guid, text, None, label, meta, str(number), len(choices), rec.where())
            )
    if unlabelled and len(unlabelled) < len(examples):
        raise DataError(
            f"{unlabelled[0]}: missing field 'label' ({len(unlabelled)} of {len(examples)} "
            "records have none): label every record, or none"
        )
    return examples


def _bidirectional(
    tokenizer, text: list[int], choice: list[int], seq_length: int, longest: int
) -> dict[str, Any]:
    blanks = [i for i, t in enumerate(text) if t in tokenizer.blank_mask_ids]
    if not blanks:
        text = [*text, tokenizer.mask_id]
    mask_id = text[blanks[-1]] if blanks else tokenizer.mask_id
    if len(text) + longest + 2 > seq_length:
        text = text[len(text) - (seq_length - longest - 2) :]
    return build_cloze_input(text, None, choice, seq_length, tokenizer, mask_id=mask_id)


def _unidirectional(
    tokenizer, text: list[int], choice: list[int], seq_length: int, block_position: bool
) -> dict[str, Any]:
    keep = max(seq_length - len(choice) - 3, 0)
    text = text[len(text) - keep :] if len(text) > keep else text
    mask = tokenizer.gmask_id if tokenizer.gmask_id is not None else tokenizer.mask_id
    part_b = [tokenizer.sop_id, *text, *choice[:-1]]
    length = 2 + len(part_b)
    targets = np.zeros(length, dtype=np.int64)
    targets[2:] = [*text, *choice]
    logit_mask = np.zeros(length, dtype=np.int64)
    logit_mask[length - len(choice) :] = 1
    blocks = np.arange(1, len(part_b) + 1) if block_position else np.ones(len(part_b))
    positions = np.stack(
        [np.concatenate([[0, 1], np.ones(len(part_b))]), np.concatenate([[0, 0], blocks])]
    ).astype(np.int64)
    return {
        "input_ids": np.asarray([tokenizer.cls_id, mask, *part_b], dtype=np.int64),
        "position_ids": positions,
        "sep": 2,
        "target_ids": targets,
        "logit_mask": logit_mask,
    }


def encode_multichoice(
    tokenizer,
    example: InputExample,
    seq_length: int,
    unidirectional: bool,
    block_position: bool = True,
) -> dict[str, Any]:
    text = tokenizer.encode(example.text_a)
    choices = [tokenizer.encode(c) for c in example.meta["choices"]]
    if any(not c for c in choices):
        raise ValueError(f"example {example.guid}: a choice encodes to no tokens")
    longest = max(len(c) for c in choices)
    if unidirectional:
        rows = [_unidirectional(tokenizer, text, c, seq_length, block_position) for c in choices]
    else:
        rows = [_bidirectional(tokenizer, text, c, seq_length, longest) for c in choices]
    sample = stack_rows(rows)
    sample.update(label=int(example.label or 0), num_choices=len(choices))
    return sample


def build_datasets(config: MultichoiceConfig, tokenizer) -> TaskData:
    examples = read_multichoice(expand_files(config.files))
    seq, uni, block = config.run.seq_length, config.unidirectional, config.block_position

    def encode(example: InputExample) -> dict[str, Any]:
        return encode_multichoice(tokenizer, example, seq, uni, block)

    return TaskData(test=TaskDataset(examples, encode, "test", labels=()))


def build_model(config: MultichoiceConfig, tokenizer) -> GLMForMultiTokenCloze:
    glm = GLMModel(config.run.model, seed=config.run.seed)
    return GLMForMultiTokenCloze(glm, take_softmax=True, length_penalty=config.length_penalty)


def _records(predictions, scores, examples) -> tuple[list[dict], list[dict]]:
    predicted = [{"idx": ex.idx, "label": p} for p, ex in zip(predictions, examples, strict=True)]
    scored = [
        {
            "id": ex.guid,
            "idx": ex.idx,
            "choices": ex.meta["choices"],
            "scores": s,
            "prediction": p,
            "label": None if ex.label is None else int(ex.label),
        }
        for p, s, ex in zip(predictions, scores, examples, strict=True)
    ]
    return predicted, scored


def write_outputs(predictions, scores, examples, output_dir: Path) -> None:
    """Per test file, GLM's ``multichoice-<name>.jsonl`` (``{"idx", "label": int}``) and the
    per-example scores beside it (``multichoice-<name>.scores.jsonl``)."""
    by_file: dict[Path, list[int]] = {}
    for i, ex in enumerate(examples):
        by_file.setdefault(ex.meta["file"], []).append(i)
    for path, rows in by_file.items():
        predicted, scored = _records(
            [predictions[i] for i in rows], [scores[i] for i in rows], [examples[i] for i in rows]
        )
        write_jsonl(Path(output_dir) / f"{prediction_name(path)}.jsonl", predicted)
        write_jsonl(Path(output_dir) / f"{prediction_name(path)}.scores.jsonl", scored)


def evaluate(
    model, dataset, config: MultichoiceConfig, tokenizer, split: str, output_dir: Path | None
) -> dict:
    predictions, scores = predict(model, dataset, config.run.eval_batch_size)
    examples = dataset.examples
    if output_dir is not None:
        write_outputs(predictions, scores, examples, output_dir)
    if any(ex.label is None for ex in examples):
        return {}
    return {"accuracy": accuracy(predictions, [int(ex.label) for ex in examples])}


def copa_to_multichoice(record: dict) -> dict:
    """A COPA record as a multichoice one: "premise because|so" and the two choices."""
    connective = "because" if record["question"] == "cause" else "so"
    premise = record["premise"].rstrip(".!? ")
    choices = [record[k][:1].lower() + record[k][1:] for k in ("choice1", "choice2")]
    return {
        "inputs_pretokenized": f"{premise} {connective}",
        "choices_pretokenized": choices,
        "label": record["label"],
    }


register_task(
    TaskSpec(
        name="multichoice",
        family="multichoice",
        build_datasets=build_datasets,
        build_model=build_model,
        forward_step=None,
        evaluate=evaluate,
        metrics=("accuracy",),
    )
)
