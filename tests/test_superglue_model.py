"""Cloze scoring, losses and metrics; one forward/backward per SuperGLUE task on a tiny model;
P-tuning freezing; --load-pretrained with position-table extension; TP=2 equals TP=1."""

import json
import math

import pytest
import torch

from data_utils.tokenization import build_tokenizer
from tasks import get_task
from tasks.cloze_samples import InputExample, collate
from tasks.pretrained import init_prompts, inner_glm, load_pretrained
from tasks.superglue import metrics
from tasks.superglue.scoring import cloze_loss, compute_scores, decoupled_label_loss
from tests.distributed import run_distributed
from tests.task_helpers import config_for
from training.arguments import parse_args

TINY = [
    "--block-lm",
    "--num-layers",
    "2",
    "--hidden-size",
    "64",
    "--num-attention-heads",
    "4",
    "--max-position-embeddings",
    "256",
    "--tokenizer-type",
    "GPT2BPETokenizer",
    "--task-mask",
    "--cloze-eval",
    "--few-superglue",
    "--seq-length",
    "96",
    "--epochs",
    "1",
    "--batch-size",
    "2",
    "--hidden-dropout",
    "0",
    "--attention-dropout",
    "0",
]
FOLDERS = {
    "boolq": "BoolQ",
    "cb": "CB",
    "copa": "COPA",
    "multirc": "MultiRC",
    "rte": "RTE",
    "record": "ReCoRD",
    "wsc": "WSC",
    "wic": "WiC",
}


def task_args(shared_dir, task, *extra):
    folder = shared_dir / "eval" / "superglue" / FOLDERS[task]
    return parse_args(
        [
            *TINY,
            "--tokenizer-path",
            str(shared_dir / "vocab"),
            "--task",
            task,
            "--data-dir",
            str(folder),
            *extra,
        ]
    )


@pytest.fixture(scope="module")
def tokenizer(shared_dir):
    return build_tokenizer(task_args(shared_dir, "rte").tokenizer_config())


def build_task(shared_dir, tokenizer, task, *extra):
    args = task_args(shared_dir, task, *extra)
    spec = get_task(task)
    return (
        args,
        spec,
        spec.build_datasets(config_for(args, tokenizer), tokenizer),
        spec.build_model(config_for(args, tokenizer), tokenizer),
    )


def test_losses():
    scores = torch.tensor([[2.0, 0.5, -1.0], [0.0, 1.0, 3.0]])
    labels = torch.tensor([0, 1])
    ce = cloze_loss(scores, labels, "cross_entropy")
    assert torch.allclose(ce, torch.nn.functional.cross_entropy(scores, labels))
    hinge = ((1 + 0 + 0 - 1) + (0 + 1 + 3 - 1)) / 2  # sum_c max(0, 1 + s_c - s_y) - 1
    assert cloze_loss(scores, labels, "hinge").item() == pytest.approx(hinge)
    assert cloze_loss(scores, labels, "generative").item() == pytest.approx(-(2.0 + 1.0) / 2)
    assert cloze_loss(scores, labels, "mix").item() == pytest.approx(-1.5 + ce.item())
    log_p = torch.log(torch.tensor([[0.5, 0.2, 0.1], [0.3, 0.6, 0.05]]))
    expected = (
        -math.log(0.5)
        - math.log(0.8)
        - math.log(0.9)
        - math.log(0.6)
        - math.log(0.7)
        - math.log(0.95)
    ) / 2
    assert decoupled_label_loss(log_p, labels).item() == pytest.approx(expected, rel=1e-5)
    padded = torch.cat([log_p, torch.full((2, 1), -10000.0)], dim=1)
    assert cloze_loss(padded, labels, "", adapet=True).item() == pytest.approx(expected, rel=1e-5)


def test_metrics():
    """GLM's scales: accuracy and ReCoRD EM/F1 in percent, F1, macro F1 and MultiRC EM as
    fractions (GLM's result files hold scikit-learn's F1s and a fraction for EM)."""
    assert metrics.accuracy([1, 0, 1, 1], [1, 1, 1, 0]) == 50.0
    assert metrics.f1([1, 0, 1, 1], [1, 1, 1, 0]) == pytest.approx(2 / 3)
    macro = (2 / 3 + 0.0) / 2  # class 1: F1 2/3; class 0: no true positive
    assert metrics.f1_macro([1, 0, 1, 1], [1, 1, 1, 0]) == pytest.approx(macro)

    def answer(passage, question):
        return InputExample("g", "t", meta={"passage_idx": passage, "question_idx": question})

    examples = [answer(0, 0), answer(0, 0), answer(1, 0), answer(1, 1)]
    # Question 0 exists in passages 0 and 1: grouping by question alone would merge them.
    assert metrics.multirc_em([1, 0, 1, 1], [1, 0, 0, 1], examples) == pytest.approx(2 / 3)
    record = InputExample(
        "g",
        "t",
        meta={"candidates": ["Barack Obama", "Paris"], "answers": ["Obama", "the Barack Obama"]},
    )
    assert metrics.qa_exact_match([0], [0], [record]) == 100.0
    assert metrics.qa_f1([1], [0], [record]) == 0.0
    accented = InputExample(
        "g", "t", meta={"candidates": ["Jos\u00e9\u2019s"], "answers": ["Joses"]}
    )
    assert metrics.qa_exact_match([0], [0], [accented]) == 100.0  # GLM folded to ASCII
    assert metrics.describe({"f1a": 0.5, "acc": 75.0}) == "f1a 0.5000 (50.00 %), acc 75.00 %"


@pytest.mark.parametrize("task", sorted(FOLDERS))
def test_every_superglue_task_trains_a_step(shared_dir, tokenizer, task):
    args, spec, data, model = build_task(shared_dir, tokenizer, task)
    batch = collate([data.train[0], data.train[1]])
    loss, _ = spec.forward_step(batch, model, config_for(args))
    loss.backward()
    assert torch.isfinite(loss)
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and any(g.abs().sum() > 0 for g in grads)


def test_wsc_regimes_and_classification_head(shared_dir, tokenizer):
    args, spec, data, model = build_task(shared_dir, tokenizer, "wsc")
    assert data.train[0]["input_ids"].ndim == 1  # generative: one LM row on span1
    args, spec, data, model = build_task(
        shared_dir, tokenizer, "wsc", "--wsc-negative", "--loss-func", "mix"
    )
    assert data.train[0]["input_ids"].ndim == 2 and data.train[0]["label"] == 0
    args = parse_args(
        [
            a
            for a in [
                *TINY,
                "--tokenizer-path",
                str(shared_dir / "vocab"),
                "--task",
                "copa",
                "--data-dir",
                str(shared_dir / "eval/superglue/COPA"),
            ]
            if a != "--cloze-eval"
        ]
    )
    spec = get_task("copa")
    model = spec.build_model(config_for(args, tokenizer), tokenizer)
    batch = collate(
        [spec.build_datasets(config_for(args, tokenizer), tokenizer).train[i] for i in range(2)]
    )
    assert compute_scores(model, batch).shape == (2, 2)


def _scores(model, samples):
    with torch.no_grad():
        model.eval()
        return compute_scores(model, collate(samples))


def test_fast_decode_chunks_and_segments_match_full_scoring(shared_dir, tokenizer):
    args, _, data, model = build_task(shared_dir, tokenizer, "record")
    samples = [data.dev[0]]
    full = _scores(model, samples)
    batch = collate(samples)
    with torch.no_grad():
        assert torch.allclose(compute_scores(model, batch, chunk=3), full, atol=1e-4)
    # Fast decode truncates the context once (not per answer): compare where nothing is cut.
    _, _, copa, model = build_task(shared_dir, tokenizer, "copa")
    _, _, fast_data, fast = build_task(shared_dir, tokenizer, "copa", "--fast-decode")
    fast.load_state_dict(model.state_dict())
    expected = _scores(model, [copa.dev[i] for i in range(3)])
    assert torch.allclose(_scores(fast, [fast_data.dev[i] for i in range(3)]), expected, atol=1e-4)
    _, _, seg_data, _ = build_task(shared_dir, tokenizer, "record", "--segment-length", "1")
    segmented = _scores(model, [seg_data.dev[0]])
    assert segmented.shape == full.shape
    # Each segment is scored as its own blank, so only one-token answers (+eop) keep the
    # first-token log-prob; the sums must still be finite and cover every choice.
    assert torch.isfinite(segmented[collate(samples)["choice_mask"].bool()]).all()


def test_freeze_transformer_and_prompt_init(shared_dir, tokenizer):
    args, _, _, model = build_task(
        shared_dir,
        tokenizer,
        "rte",
        "--continuous-prompt",
        "--num-prompt-tokens",
        "3",
        "--freeze-transformer",
        "--tune-prefix-layers",
        "1",
    )
    trainable = {n for n, p in inner_glm(model).named_parameters() if p.requires_grad}
    assert any(n.startswith("prompt_spell.") for n in trainable)
    assert any(n.startswith("transformer.layers.0.") for n in trainable)
    assert not any(n.startswith(("transformer.layers.1.", "word_embeddings")) for n in trainable)
    init_prompts(model, model.task_tokens, seed=3)
    rows = inner_glm(model).prompt_spell.spell_embeddings.weight
    words = inner_glm(model).word_embeddings.weight
    # every prompt row is a convex mix of a random word row and a verbalizer row
    assert rows.shape == (3, 64) and not torch.equal(rows[0], rows[1])
    assert rows.abs().max() <= words.abs().max() + 1e-6


def test_load_pretrained_extends_position_tables(shared_dir, tokenizer, reference_dir):
    checkpoint = reference_dir / "checkpoints" / "glm-tiny-gpt2"
    args = task_args(shared_dir, "rte", "--max-position-embeddings", "300")
    model = get_task("rte").build_model(config_for(args, tokenizer), tokenizer)
    fresh = inner_glm(model).transformer.position_embeddings.weight.detach().clone()
    missing, unexpected = load_pretrained(model, checkpoint)
    assert not missing and not unexpected
    table = inner_glm(model).transformer.position_embeddings.weight
    stored = torch.load(checkpoint / "1000" / "mp_rank_00_model_states.pt", weights_only=True)
    stored = stored["module"]["transformer.position_embeddings.weight"]
    assert table.shape[0] == 301 and stored.shape[0] == 257
    assert torch.equal(table[:257], stored.to(table.dtype))
    assert torch.equal(table[257:], fresh[257:])


def _tp_scores(rank, world, shared_dir, checkpoint):
    import mpu

    if world > 1:
        mpu.initialize_model_parallel(world)
    tokenizer = build_tokenizer(task_args(shared_dir, "copa").tokenizer_config())
    results = {}
    for task in ("copa", "rte"):
        args, _, data, model = build_task(shared_dir, tokenizer, task)
        load_pretrained(model, checkpoint, rank, world)
        results[task] = _scores(model, [data.dev[i] for i in range(2)])
    return results


@pytest.mark.slow
def test_cloze_scoring_tp2_equals_tp1(shared_dir, reference_dir, tmp_path):
    checkpoints = reference_dir / "checkpoints"
    one = _tp_scores(0, 1, shared_dir, checkpoints / "glm-tiny-gpt2")
    two = run_distributed(_tp_scores, 2, tmp_path, shared_dir, checkpoints / "glm-tiny-gpt2_MP2")
    for task in one:
        assert torch.allclose(two[0][task], one[task], atol=1e-4)
        assert torch.equal(two[0][task], two[1][task])


def test_block_lm_ratio_mixes_pattern_text_batches(shared_dir, tokenizer):
    args, spec, data, model = build_task(shared_dir, tokenizer, "copa", "--block-lm-ratio", "1")
    example = data.train.cloze.examples[0]
    text = tokenizer.decode(data.train[0]["pattern"][0])
    gold = data.train.cloze.pvp.answers(example)[int(example.label)]
    assert text.startswith("[CLS]") and text.endswith(gold + ".<|endoftext|>")
    batches = [data.train.collate([data.train[i] for i in range(2)]) for _ in range(12)]
    infilling = [b for b in batches if "tokens" in b]
    assert 0 < len(infilling) < len(batches)  # about half of them with ratio 1
    loss, _ = spec.forward_step(infilling[0], model, config_for(args))
    loss.backward()
    assert torch.isfinite(loss) and infilling[0]["loss_mask"].sum() > 0


def test_prediction_records():
    from tasks.superglue.evaluate import prediction_records

    answers = [InputExample("g", "t", idx=[7, q, a]) for q, a in ((0, 0), (0, 1), (1, 0))]
    assert prediction_records("multirc", [1, 0, 1], answers, ("0", "1")) == [
        {
            "idx": 7,
            "passage": {
                "questions": [
                    {"idx": 0, "answers": [{"idx": 0, "label": 1}, {"idx": 1, "label": 0}]},
                    {"idx": 1, "answers": [{"idx": 0, "label": 1}]},
                ]
            },
        }
    ]
    record = InputExample("g", "t", idx=5, meta={"candidates": ["A", "B"]})
    assert prediction_records("record", [1], [record], ("0", "1")) == [{"idx": 5, "label": "B"}]
    copa = [InputExample("g", "t", idx=i) for i in (0, 1)]  # the leaderboard wants integers
    assert prediction_records("copa", [1, 0], copa, ("0", "1")) == [
        {"idx": 0, "label": 1},
        {"idx": 1, "label": 0},
    ]
    clue = [InputExample("g", "t", idx=i) for i in (3, 1)]
    assert prediction_records("afqmc", [0, 1], clue, ("0", "1")) == [
        {"idx": 1, "label": "1"},
        {"idx": 3, "label": "0"},
    ]


def test_wsc_generative_evaluation(shared_dir, tokenizer, tmp_path):
    args, spec, data, model = build_task(shared_dir, tokenizer, "wsc")
    data.dev.examples = data.dev.examples[:4]
    results = spec.evaluate(
        model, data.dev, config_for(args, tokenizer), tokenizer, "dev", tmp_path
    )
    assert set(results) == {"accuracy"}
    lines = (tmp_path / "wsc-dev.jsonl").read_text().splitlines()
    assert len(lines) == 4 and all('"label": "True"' in x or '"label": "False"' in x for x in lines)
    scored = [json.loads(x) for x in (tmp_path / "wsc-dev.scores.jsonl").read_text().splitlines()]
    assert [s["scores"] for s in scored] == [None] * 4  # greedy decoding scores nothing
    assert all(s["prediction"] in ("True", "False") for s in scored)
