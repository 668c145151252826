"""GLM in lm-evaluation-harness (tasks/lm_eval, lm_eval_glm.py): the adapter answers lm-eval's
requests exactly as our own tasks score the same texts, and lm-eval's simple_evaluate runs end
to end on the offline task YAMLs.

Tolerance: 1e-4 absolute on log-likelihoods and losses (both sides run the same float32
forward; the batches differ).
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from lm_eval.api.instance import Instance

from data_utils.tokenization import build_tokenizer
from model.blank_filling import fill_blanks_batch
from model.generation import GenerationConfig
from tasks import get_task
from tasks.language_model.scoring import score_dataset
from tasks.lm_eval.adapter import GLMEvalModel, LMEvalConfig
from tests.reference import load_tiny_model
from tests.task_helpers import config_for
from training.arguments import parse_args

REPO = Path(__file__).resolve().parents[1]
TINY = ["--block-lm", "--num-layers", "2", "--hidden-size", "64", "--num-attention-heads", "4",
        "--max-position-embeddings", "256", "--tokenizer-type", "GPT2BPETokenizer", "--task-mask",
        "--seq-length", "128", "--eval-batch-size", "8"]  # fmt: skip
COUNT = 40  # LAMBADA texts compared


@pytest.fixture(scope="module")
def setup(vocab_dir, reference_dir):
    tokenizer = build_tokenizer(
        parse_args([*TINY, "--tokenizer-path", str(vocab_dir)]).tokenizer_config()
    )
    model = load_tiny_model(reference_dir, "gpt2", "glm-tiny-gpt2")
    adapter = GLMEvalModel(model, tokenizer, LMEvalConfig(8, 128, task_mask=True))
    return tokenizer, model, adapter


def _requests(kind, items):
    return [Instance(kind, {}, args, i) for i, args in enumerate(items)]


def _lambada_subset(shared_dir, tmp_path):
    lines = (shared_dir / "eval/lambada/lambada_test_first500.jsonl").read_text().splitlines()
    path = tmp_path / "lambada.jsonl"
    path.write_text("\n".join(lines[:COUNT]) + "\n")
    return path, [json.loads(line)["text"] for line in lines[:COUNT]]


def test_loglikelihood_equals_our_lambada_scoring(setup, shared_dir, vocab_dir, tmp_path):
    tokenizer, model, adapter = setup
    path, texts = _lambada_subset(shared_dir, tmp_path)
    args = parse_args([*TINY, "--tokenizer-path", str(vocab_dir), "--task", "lambda",
                       "--valid-data", str(path)])  # fmt: skip
    ours = score_dataset(
        model,
        get_task("lambda").build_datasets(config_for(args, tokenizer), tokenizer).test,
        8,
        tokenizer.eos_id,
    )
    pairs = []
    for text in texts:
        last = text.split()[-1]
        pairs.append((text[: text.rfind(last)].strip(), " " + last))
    theirs = adapter.loglikelihood(_requests("loglikelihood", pairs))
    assert len(theirs) == COUNT
    for score, (logprob, greedy) in zip(ours, theirs, strict=True):
        assert logprob == pytest.approx(score.logprob_sum, abs=1e-4)
        assert greedy == score.all_argmax
    assert sum(g for _, g in theirs) == sum(s.all_argmax for s in ours)


def test_rolling_loglikelihood_gives_our_wikitext_loss(setup, shared_dir, vocab_dir, tmp_path):
    tokenizer, model, adapter = setup
    lines = (shared_dir / "eval/wikitext-2/valid.txt").read_text().splitlines()[:60]
    path = tmp_path / "wiki.txt"
    path.write_text("\n".join(lines) + "\n")
    args = parse_args([*TINY, "--tokenizer-path", str(vocab_dir), "--task", "wikitext",
                       "--valid-data", str(path), "--overlapping-eval", "32"])  # fmt: skip
    spec = get_task("wikitext")
    config = config_for(args, tokenizer)
    dataset = spec.build_datasets(config, tokenizer).test
    ours = spec.evaluate(model, dataset, config, tokenizer, "test", None)["avg loss"]
    text = tokenizer.decode(dataset.documents[0])
    (total,) = adapter.loglikelihood_rolling(_requests("loglikelihood_rolling", [(text,)]))
    scored = len(tokenizer.encode(text)) - 1  # every token but the first
    assert len(tokenizer.encode(text)) == len(dataset.documents[0])
    assert -total / scored == pytest.approx(ours, abs=1e-4)


def test_generate_until_returns_our_greedy_fills(setup):
    tokenizer, model, adapter = setup
    contexts = ["The quick brown fox", "Once upon a time there was", "Alice said"]
    config = GenerationConfig(out_seq_length=12, top_k=1)
    fills = [r.fills[-1] for r in fill_blanks_batch(model, tokenizer, contexts, config)]
    kwargs = {"until": [], "max_gen_toks": 12}
    got = adapter.generate_until(_requests("generate_until", [(c, kwargs) for c in contexts]))
    assert got == fills
    stop = fills[0].strip().split(" ")[0]
    cut = adapter.generate_until(
        _requests("generate_until", [(contexts[0], {**kwargs, "until": [stop]})])
    )
    assert cut == [fills[0].split(stop, 1)[0]]


def test_simple_evaluate_runs_offline_on_local_tasks(setup, shared_dir, monkeypatch):
    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("GLM_SHARED", str(shared_dir))
    _, _, adapter = setup
    manager = TaskManager(include_path=str(REPO / "tasks/lm_eval"))
    results = simple_evaluate(
        model=adapter, tasks=["glm_lambada", "glm_copa"], limit=12, task_manager=manager,
        bootstrap_iters=0, log_samples=False,
    )  # fmt: skip
    assert 0 <= results["results"]["glm_lambada"]["acc,none"] <= 1
    assert results["results"]["glm_lambada"]["perplexity,none"] > 1
    assert 0 <= results["results"]["glm_copa"]["acc,none"] <= 1


@pytest.mark.slow
def test_command_line_with_a_model_descriptor_at_mp2(tmp_path, shared_dir, reference_dir):
    """`torchrun lm_eval_glm.py run --model glm` with a config_tasks-style descriptor: the
    MP=2 checkpoint gives the table once, from rank 0."""
    descriptor = tmp_path / "model_tiny.sh"
    descriptor.write_text(f'MODEL_ARGS="{" ".join(TINY)} --model-parallel-size 2"\n')
    model_args = ",".join(
        [
            f"pretrained={reference_dir / 'checkpoints/glm-tiny-gpt2_MP2'}",
            f"model_config={descriptor}",
            f"tokenizer_path={shared_dir / 'vocab'}",
        ]
    )
    env = dict(os.environ, GLM_SHARED=str(shared_dir), HF_DATASETS_OFFLINE="1",
               HF_HUB_OFFLINE="1", OMP_NUM_THREADS="1")  # fmt: skip
    result = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node", "2",
         "--master-port", str(_free_port()), str(REPO / "lm_eval_glm.py"), "run",
         "--model", "glm", "--model_args", model_args, "--tasks", "glm_lambada", "glm_rte",
         "--limit", "8", "--include_path", str(REPO / "tasks/lm_eval")],
        capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [line for line in result.stdout.splitlines() if line.startswith("|glm_")]
    assert [row.split("|")[1].strip() for row in rows] == ["glm_lambada", "glm_rte"]


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
