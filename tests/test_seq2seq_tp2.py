"""TP=2 (gloo, the MP=2 reference checkpoints) equals TP=1 for LM scoring, seq2seq beam
search and greedy blank filling; one spawn runs all three to keep the suite fast.

Tolerance: LM log-probs 1e-4 against the reference; generated ids must be identical.
"""

import numpy as np
import pytest

from tasks.language_model.scoring import score_dataset
from tasks.seq2seq.decoding import blank_generation, decode_blanks, decode_dataset
from tasks.seq2seq.task import build_split
from tests.distributed import run_distributed
from tests.reference import load_tiny_model
from tests.task_helpers import config_for
from tests.test_blank_task import TEXTS, blank_args
from tests.test_language_model import lm_setup
from tests.test_seq2seq_decode import cnndm_setup

LM_CASES = [("gpt2", "uni"), ("bert", "bi")]


def _outputs(checkpoint_suffix, shared_dir, vocab_dir, reference_dir, folder):
    out = {}
    for variant, mode in LM_CASES:
        _, tokenizer, dataset = lm_setup(reference_dir, vocab_dir, variant, mode)
        model = load_tiny_model(reference_dir, variant, f"glm-tiny-{variant}{checkpoint_suffix}")
        scores = score_dataset(model, dataset, 4, tokenizer.eos_id)
        out[variant, mode] = [np.array(s.logprobs) for s in scores], [s.all_argmax for s in scores]
    args, _, test = cnndm_setup(shared_dir, vocab_dir, folder, rows=3)
    model = load_tiny_model(reference_dir, "gpt2", f"glm-tiny-gpt2{checkpoint_suffix}")
    out["cnn_dm"] = decode_dataset(model, test, config_for(args).generation, 3)
    (folder / "valid.txt").write_text("\n".join(TEXTS) + "\n")
    args = blank_args(vocab_dir, folder, "--tgt-seq-length=5")
    from data_utils.tokenization import build_tokenizer

    bert = build_tokenizer(args.tokenizer_config())
    dev = build_split(config_for(args, bert), bert, 1)
    model = load_tiny_model(reference_dir, "bert", f"glm-tiny-bert{checkpoint_suffix}")
    out["blank"] = decode_dataset(
        model, dev, blank_generation(config_for(args).generation), 2, decode_blanks
    )
    return out


def _tp2_worker(rank, world, shared_dir, vocab_dir, reference_dir, folder):
    from mpu import initialize_model_parallel

    initialize_model_parallel(world)
    return _outputs("_MP2", shared_dir, vocab_dir, reference_dir, folder / f"rank{rank}")


@pytest.mark.slow
def test_tp2_equals_tp1(tmp_path, shared_dir, vocab_dir, reference_dir):
    for name in ("tp1", "tp2/rank0", "tp2/rank1"):
        (tmp_path / name).mkdir(parents=True)
    single = _outputs("", shared_dir, vocab_dir, reference_dir, tmp_path / "tp1")
    ranks = run_distributed(
        _tp2_worker, 2, tmp_path, shared_dir, vocab_dir, reference_dir, tmp_path / "tp2"
    )
    for result in ranks:
        for key in LM_CASES:
            (ours, argmax), (theirs, argmax_tp1) = result[key], single[key]
            assert argmax == argmax_tp1
            for a, b in zip(ours, theirs, strict=True):
                np.testing.assert_allclose(a, b, atol=1e-4)
        assert result["cnn_dm"] == single["cnn_dm"]
        assert result["blank"] == single["blank"]
