"""Seq2seq metrics: ROUGE-1/2/L (``rouge-score``) and SQuAD exact match / F1.

ROUGE follows GLM's post-processing of predictions: a prediction is split into sentences at
``[SEP]``; each sentence gets GLM's fix (``rouge_fix``: WordPiece outputs re-tokenised PTB-style,
Gigaword's ``[UNK]`` back to ``UNK``, others as they are); sentences of
at most 4 words, and sentences with more than 70 % of their words in the earlier ones, are
dropped. Scores are the mean F1 over examples as a fraction (0-1, GLM's scale), with the
Porter stemmer, ROUGE-L on newline-separated sentences (``rougeLsum``). ``rouge-score``
tokenises as ROUGE-1.5.5 does (lower-case, alphanumeric runs), so no Java tokenizer is needed.

``main`` scores two output files (``scripts/evaluate_seq2seq.sh HYPS REFS``).
"""

from __future__ import annotations

import argparse
import json
import string
from collections.abc import Sequence
from pathlib import Path

from common.errors import exit_on_bad_input
from tasks.answers import normalize_answer, token_f1
from tasks.seq2seq.detokenize import rouge_fix

SENTENCE_SEPARATOR = "[SEP]"
MIN_SENTENCE_WORDS = 5
DUPLICATE_OVERLAP = 0.7


def _sentences(text: str, fix: str | None) -> list[str]:
    parts = [rouge_fix(s, fix).strip() for s in text.strip().split(SENTENCE_SEPARATOR)]
    return [s for s in parts if s]


def clean_prediction(text: str, fix: str | None) -> str:
    """GLM's prediction post-processing; sentences joined by newlines. A sentence is a
    duplicate when more than 70 % of its (lower-cased) words occur in the earlier sentences
    of at least 5 words, kept or not, taken together."""
    kept: list[str] = []
    history: set[str] = set()
    for sentence in _sentences(text, fix):
        if len(sentence.split()) < MIN_SENTENCE_WORDS:
            continue
        words = set(sentence.lower().split())
        if len(words & history) <= DUPLICATE_OVERLAP * len(words):
            kept.append(sentence)
        history |= words
    return "\n".join(kept)


def clean_reference(text: str, fix: str | None) -> str:
    return "\n".join(_sentences(text, fix))


def rouge_scores(
    predictions: Sequence[str],
    references: Sequence[str],
    postprocess: bool = True,
    fix: str | None = None,
) -> dict[str, float]:
    """``rouge-1``, ``rouge-2``, ``rouge-l`` (mean F1, a fraction); ``postprocess`` applies
    GLM's sentence filtering to the predictions; ``fix`` is GLM's per-sentence fix
    (``rouge_fix``: "ptb", "gigaword" or None)."""
    if len(predictions) != len(references):
        raise ValueError(f"{len(predictions)} predictions for {len(references)} references")
    # Imported here: rouge-score pulls in NLTK, SciPy and scikit-learn (200 MB, seconds), which
    # every entry point importing the task registry would otherwise pay for.
    from rouge_score import rouge_scorer

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeLsum"], use_stemmer=True)
    totals = {"rouge1": 0.0, "rouge2": 0.0, "rougeLsum": 0.0}
    for prediction, reference in zip(predictions, references, strict=True):
        pair = (reference, prediction)
        if postprocess:
            # GLM's in-training metric passed the prediction as the target: F1 is symmetric
            # for ROUGE-1/2 but not for the summary-level ROUGE-L, so keep its order
            pair = (clean_prediction(prediction, fix), clean_reference(reference, fix))
        for key, score in scorer.score(*pair).items():
            totals[key] += score.fmeasure
    n = max(len(predictions), 1)
    return {
        "rouge-1": totals["rouge1"] / n,
        "rouge-2": totals["rouge2"] / n,
        "rouge-l": totals["rougeLsum"] / n,
    }


_CHINESE_PUNCTUATION = set("，。！？；：、“”‘’（）《》【】—…·「」『』")


def _answer_tokens(text: str, char_level: bool) -> list[str]:
    if not char_level:
        return normalize_answer(text).split()
    drop = set(string.punctuation) | _CHINESE_PUNCTUATION
    return [c for c in text.lower() if not c.isspace() and c not in drop]


def _f1(prediction: str, gold: str, char_level: bool) -> float:
    pred, ref = _answer_tokens(prediction, char_level), _answer_tokens(gold, char_level)
    if not pred or not ref:
        return float(pred == ref)
    return token_f1(pred, ref)


def squad_scores(
    predictions: dict[str, str], answers: dict[str, Sequence[str]], char_level: bool = False
) -> dict[str, float]:
    """``EM`` and ``F1`` in percent (GLM's scale), the best over the gold answers (none: the
    empty answer).
    ``char_level`` compares characters (Chinese, CMRC) instead of normalised words."""
    em = f1 = 0.0
    for qid, golds in answers.items():
        prediction = predictions.get(qid, "")
        golds = list(golds) or [""]
        pred = _answer_tokens(prediction, char_level)
        em += max(float(pred == _answer_tokens(g, char_level)) for g in golds)
        f1 += max(_f1(prediction, g, char_level) for g in golds)
    n = max(len(answers), 1)
    return {"EM": 100 * em / n, "F1": 100 * f1 / n}


def rouge_files(hyps: Path, refs: Path, postprocess: bool = False) -> dict[str, float]:
    """ROUGE of two line-aligned files (``[SEP]`` splits a line into sentences)."""
    lines = []
    for path in (hyps, refs):
        if not path.is_file():
            raise FileNotFoundError(f"{path} does not exist")
        lines.append(path.read_text(encoding="utf-8").splitlines())
    if len(lines[0]) != len(lines[1]):
        raise ValueError(f"{hyps} has {len(lines[0])} lines but {refs} has {len(lines[1])}")
    if postprocess:
        return rouge_scores(lines[0], lines[1], postprocess=True)
    hyp_text = [clean_reference(line, fix=None) for line in lines[0]]
    ref_text = [clean_reference(line, fix=None) for line in lines[1]]
    return rouge_scores(hyp_text, ref_text, postprocess=False)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="ROUGE-1/2/L F1 of a .hyps file against .refs")
    parser.add_argument("hyps", type=Path)
    parser.add_argument("refs", type=Path)
    parser.add_argument(
        "--glm-postprocess",
        action="store_true",
        help="drop short and near-duplicate predicted sentences, as GLM's in-training metric",
    )
    args = parser.parse_args(argv)
    with exit_on_bad_input("python -m tasks.seq2seq.metrics"):
        scores = rouge_files(args.hyps, args.refs, args.glm_postprocess)
    print(" ".join(f"{name.upper()} {100 * value:.2f} %" for name, value in scores.items()))
    print(json.dumps(scores))
