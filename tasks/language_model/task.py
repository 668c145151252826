"""The zero-shot LM tasks: ``lambda`` (LAMBADA), ``wikitext`` and ``language_model``.

All three are evaluation only (``--epochs 0``) and read the one file given by ``--valid-data``.
Metrics: LAMBADA accuracy (%, a text counts when every token of its last word is the argmax);
for the others ``avg loss`` (mean negative log-likelihood per scored token), ``ppl`` and
``adjusted ppl`` (per original whitespace word, the paper's WikiText number).

Denominators: every scored token and every word after a document's first. GLM divided by
all tokens - 1 and all words - 1 of the file, which differs for multi-document files;
``--legacy-lm-denominator`` reproduces GLM's numbers.
"""

from __future__ import annotations

import math
from pathlib import Path

from tqdm import tqdm

from model import GLMModel
from mpu import is_rank_0
from tasks.config import LMTaskConfig
from tasks.language_model.datasets import (
    LambadaDataset,
    LMTokens,
    LMWindowDataset,
    read_lambada,
)
from tasks.language_model.detokenizer import wikitext_detokenize
from tasks.language_model.scoring import SampleScore, score_dataset
from tasks.registry import TaskData, TaskSpec, register_task
from tasks.task_io import read_lines, read_text, write_jsonl

PPL_EXPONENT_CAP = 20.0  # GLM caps exp() arguments so a diverged model reports a finite ppl


def lm_metrics(scores: list[SampleScore], dataset: LMWindowDataset, legacy: bool) -> dict:
    """``avg loss``, ``ppl`` and ``adjusted ppl`` of scored windows."""
    total = -sum(s.logprob_sum for s in scores)
    if legacy:
        tokens = dataset.num_tokenized_tokens - 1
        words = dataset.num_original_tokens - 1
    else:
        tokens = sum(s.num_scored for s in scores)
        words = dataset.num_predicted_words
    avg = total / max(tokens, 1)
    adjusted = avg * tokens / max(words, 1)
    return {
        "avg loss": avg,
        "ppl": math.exp(min(PPL_EXPONENT_CAP, avg)),
        "adjusted ppl": math.exp(min(PPL_EXPONENT_CAP, adjusted)),
    }


def lambada_metrics(scores: list[SampleScore]) -> dict:
    correct = sum(s.all_argmax for s in scores)
    return {"accuracy": 100.0 * correct / max(len(scores), 1)}


def _tokens(config: LMTaskConfig, tokenizer) -> LMTokens:
    return LMTokens.from_tokenizer(tokenizer, config.task_mask)


def build_lambada(config: LMTaskConfig, tokenizer, strict: bool = True) -> TaskData:
    examples = read_lambada(config.valid_file, tokenizer, strict=strict)
    dataset = LambadaDataset(
        examples, _tokens(config, tokenizer), config.run.seq_length, config.unidirectional
    )
    return TaskData(test=dataset)


def _windows(
    config: LMTaskConfig, tokenizer, documents: list[list[int]], words: list[int]
) -> TaskData:
    dataset = LMWindowDataset(
        documents,
        words,
        _tokens(config, tokenizer),
        config.run.seq_length,
        config.overlapping_eval,
        config.unidirectional,
    )
    return TaskData(test=dataset)


def build_wikitext(config: LMTaskConfig, tokenizer) -> TaskData:
    """The whole file is one document, detokenised; words are counted before that."""
    raw = read_text(config.valid_file, "WikiText tokens (wiki.test.tokens)")
    words = len(raw.strip().split(" "))
    return _windows(config, tokenizer, [tokenizer.encode(wikitext_detokenize(raw))], [words])


def build_language_model(config: LMTaskConfig, tokenizer) -> TaskData:
    """One document per non-blank line."""
    lines = [line.strip() for line in read_lines(config.valid_file, "one document per line")]
    lines = [line for line in lines if line]
    documents = tokenizer.encode_batch(lines)
    return _windows(config, tokenizer, documents, [len(line.split(" ")) for line in lines])


def build_lm_model(config: LMTaskConfig, tokenizer) -> GLMModel:
    return GLMModel(config.run.model, seed=config.run.seed)


def _score(model, dataset, config: LMTaskConfig) -> list[SampleScore]:
    with tqdm(total=len(dataset), desc="scoring", disable=not is_rank_0()) as bar:
        return score_dataset(
            model, dataset, config.run.eval_batch_size, dataset.tokens.eos, bar.update
        )


def evaluate_lm(model, dataset, config: LMTaskConfig, tokenizer, split: str, output_dir) -> dict:
    return lm_metrics(_score(model, dataset, config), dataset, config.legacy_lm_denominator)


def evaluate_lambada(
    model, dataset, config: LMTaskConfig, tokenizer, split: str, output_dir
) -> dict:
    """Accuracy; ``<split>.scores.jsonl`` gets, per text, the log-probability of its last word
    (and of each of its tokens) and whether every token was the argmax."""
    scores = _score(model, dataset, config)
    if output_dir is not None:
        records = [
            {
                "id": s.uid,
                "score": s.logprob_sum,
                "token_scores": list(s.logprobs),
                "correct": s.all_argmax,
            }
            for s in scores
        ]
        write_jsonl(Path(output_dir) / f"{split}.scores.jsonl", records)
    return lambada_metrics(scores)


def _register() -> None:
    common = dict(family="lm", build_model=build_lm_model, forward_step=None)
    register_task(
        TaskSpec(
            name="lambda",
            build_datasets=build_lambada,
            evaluate=evaluate_lambada,
            metrics=("accuracy",),
            **common,
        ),
        "lambada",
    )
    for name, builder in (("wikitext", build_wikitext), ("language_model", build_language_model)):
        register_task(
            TaskSpec(
                name=name,
                build_datasets=builder,
                evaluate=evaluate_lm,
                metrics=("avg loss", "ppl", "adjusted ppl"),
                **common,
            )
        )


_register()
