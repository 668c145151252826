"""LM scoring parity with the original GLM (fixtures ``*/lm``): batches, log-probs, scores.

Tolerances: log-probs 1e-4 absolute (the original's own MP=1/MP=2 spread is 3.8e-6);
``avg loss`` 1e-5 relative (a float32 sum over 141 tokens, accumulated in another order).
"""

import json
import math

import numpy as np
import pytest

from data_utils.tokenization import build_tokenizer
from tasks import get_task
from tasks.glm_samples import collate_samples
from tasks.language_model.scoring import score_dataset
from tests.reference import VARIANTS, load_tiny_model
from tests.task_helpers import config_for
from training.arguments import parse_args

ATOL = 1e-4
CASES = [(v, m) for v in sorted(VARIANTS) for m in ("uni", "bi")]


def _lm_json(reference_dir, variant):
    return json.loads((reference_dir / variant / "lm" / "lm.json").read_text())


def lm_setup(reference_dir, vocab_dir, variant, mode, *extra):
    """(args, tokenizer, dataset) exactly as the reference run, plus ``extra`` flags."""
    cli = _lm_json(reference_dir, variant)["modes"][mode]["reference_cli"]
    cli = [c.replace("<fixtures>", str(reference_dir)) for c in cli]
    args = parse_args([*cli, "--tokenizer-path", str(vocab_dir), *extra])
    tokenizer = build_tokenizer(args.tokenizer_config())
    dataset = get_task("language_model").build_datasets(config_for(args, tokenizer), tokenizer).test
    return args, tokenizer, dataset


@pytest.mark.parametrize(("variant", "mode"), CASES)
def test_windows_equal_reference_batches(reference_dir, vocab_dir, variant, mode):
    _, tokenizer, dataset = lm_setup(reference_dir, vocab_dir, variant, mode)
    batch = collate_samples([dataset[i] for i in range(len(dataset))], tokenizer.eos_id)
    folder = reference_dir / variant / "lm"
    for name, ours in (
        ("ids", "input_ids"),
        ("targets", "target_ids"),
        ("loss_mask", "loss_mask"),
        ("position_ids", "position_ids"),
        ("sep", "sep"),
    ):
        np.testing.assert_array_equal(batch[ours].numpy(), np.load(folder / f"{mode}_{name}.npy"))


def _per_document(dataset, scores):
    docs = [np.full(len(d), np.nan) for d in dataset.documents]
    for index, score in enumerate(scores):
        positions = list(dataset.scored_positions(index))
        assert len(positions) == len(score.logprobs)
        docs[dataset.windows[index].document][positions] = score.logprobs
    return docs


@pytest.mark.parametrize(("variant", "mode"), CASES)
def test_token_logprobs_and_scores_match_reference(reference_dir, vocab_dir, variant, mode):
    args, tokenizer, dataset = lm_setup(reference_dir, vocab_dir, variant, mode)
    model = load_tiny_model(reference_dir, variant, f"glm-tiny-{variant}")
    scores = score_dataset(model, dataset, 4, tokenizer.eos_id)
    for d, ours in enumerate(_per_document(dataset, scores)):
        reference = np.load(reference_dir / variant / "lm" / f"{mode}_doc{d}_token_logprobs.npy")
        np.testing.assert_array_equal(np.isnan(ours), np.isnan(reference))
        np.testing.assert_allclose(ours, reference, atol=ATOL, equal_nan=True)

    reference = _lm_json(reference_dir, variant)["modes"][mode]
    legacy_args = lm_setup(reference_dir, vocab_dir, variant, mode, "--legacy-lm-denominator")[0]
    task = get_task("language_model")
    legacy = task.evaluate(
        model, dataset, config_for(legacy_args, tokenizer), tokenizer, "test", None
    )
    for key in ("avg loss", "ppl", "adjusted ppl"):
        assert legacy[key] == pytest.approx(reference["reference_score"][key], rel=1e-5)

    fixed = task.evaluate(model, dataset, config_for(args, tokenizer), tokenizer, "test", None)
    total = reference["sum_of_token_losses"]
    scored = reference["num_tokenized_tokens"] - 2  # two documents, first tokens unscored
    words = reference["num_original_tokens"] - 2
    assert fixed["avg loss"] == pytest.approx(total / scored, rel=1e-5)
    assert fixed["adjusted ppl"] == pytest.approx(math.exp(min(20, total / words)), rel=1e-4)
