"""Blank filling against the original GLM's greedy fills, beam search, batching, TP=2.

The reference fills were recorded with ``--out-seq-length 24 --top-k 1`` on the tiny fixture
checkpoints (see the fixtures README): ids, how each blank ended and the decoded texts must be
equal, at MP=1 and with the MP=2 checkpoints at tensor-parallel size 2 (gloo).
"""

from functools import cache
from pathlib import Path

import pytest
import torch

from data_utils.tokenization import TokenizerConfig, build_tokenizer
from model.beam_search import beam_search, beam_search_hypotheses
from model.blank_filling import FillResult, fill_blanks, fill_blanks_batch
from model.generation import GenerationConfig, prefill, span_positions, step_logits
from tests.distributed import run_distributed
from tests.reference import VARIANTS, case_array, generation_cases, load_tiny_model

GREEDY = GenerationConfig(out_seq_length=24, top_k=1)


pytestmark = pytest.mark.usefixtures("one_thread")


@cache
def tokenizer_for(vocab_dir: Path, variant: str):
    if variant == "gpt2":
        config = TokenizerConfig("GPT2BPETokenizer", tokenizer_path=str(vocab_dir), task_mask=True)
    else:
        config = TokenizerConfig(
            "BertWordPieceTokenizer", "bert-base-uncased", tokenizer_path=str(vocab_dir)
        )
    return build_tokenizer(config)


@cache
def tiny_model(reference_dir: Path, variant: str):
    return load_tiny_model(reference_dir, variant, f"glm-tiny-{variant}", parallel_output=False)


def mismatches(results: list[FillResult], cases: list[dict]) -> list[str]:
    """Every way ``results`` differ from the recorded fills (empty when equal)."""
    problems = []
    for result, case in zip(results, cases, strict=True):
        name = f"case {case['case']}"
        if result.context_ids != case["context_ids"]:
            problems.append(f"{name}: context ids")
        if result.mask_positions != case["mask_positions"]:
            problems.append(f"{name}: mask positions")
        for j, blank in enumerate(case["blanks"]):
            if result.fill_ids[j] != blank["generated_ids"]:
                problems.append(f"{name} blank {j}: ids")
            if result.ended_by[j] != blank["ended_by"]:
                problems.append(f"{name} blank {j}: ended by {result.ended_by[j]}")
            if result.fills[j] != blank["generated_text"]:
                problems.append(f"{name} blank {j}: text")
        if result.output_text != case["output_text"]:
            problems.append(f"{name}: output text")
    return problems


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_greedy_fills_equal_reference_alone_and_batched(reference_dir, vocab_dir, variant):
    tokenizer, model = tokenizer_for(vocab_dir, variant), tiny_model(reference_dir, variant)
    cases = generation_cases(reference_dir, variant)
    texts = [c["input_text"] for c in cases]
    alone = [fill_blanks(model, tokenizer, text, GREEDY) for text in texts]
    assert mismatches(alone, cases) == []
    assert mismatches(fill_blanks_batch(model, tokenizer, texts, GREEDY), cases) == []


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_decoding_steps_match_the_recorded_step_logits(reference_dir, variant):
    """step_logits (the decoding path, with its own output projection on CPU) against the
    original's recorded top-16 logits of every incremental step, within 1e-4."""
    model = tiny_model(reference_dir, variant)
    worst = 0.0
    for case in generation_cases(reference_dir, variant):
        steps = [step for blank in case["blanks"] for step in blank["steps"]]
        cache_ = model.make_kv_cache(1, len(case["context_ids"]) + len(steps))
        ids = torch.from_numpy(case_array(reference_dir, variant, case["case"], "step_topk_ids"))
        values = case_array(reference_dir, variant, case["case"], "step_topk_values")
        with torch.no_grad():
            prefill(model, cache_, [case["context_ids"]], 0)
            for row, step in enumerate(steps):
                token = torch.tensor([step["input_id"]])
                position = torch.tensor(step["position_ids"]).view(1, 2, 1)
                logits = step_logits(model, cache_, token, position)[0]
                worst = max(
                    worst,
                    float((logits[ids[row].long()] - torch.from_numpy(values[row])).abs().max()),
                )
    assert worst <= 1e-4


def test_fills_are_spliced_into_the_text(reference_dir, vocab_dir):
    gpt2 = fill_blanks(
        tiny_model(reference_dir, "gpt2"),
        tokenizer_for(vocab_dir, "gpt2"),
        "The capital of France is [MASK], and the capital of Germany is [MASK].",
        GREEDY,
    )
    # [MASK] swallows the space before it; the fill brings its own leading space.
    expected = f"The capital of France is{gpt2.fills[0]}, and the capital of Germany is"
    assert gpt2.text == expected + f"{gpt2.fills[1]}."
    bert = fill_blanks(
        tiny_model(reference_dir, "bert"), tokenizer_for(vocab_dir, "bert"), "Hello world", GREEDY
    )
    assert bert.text == f"Hello world {bert.fills[0]}"
    assert bert.to_record() == {
        "context": "Hello world",
        "fills": bert.fills,
        "fill_ids": bert.fill_ids,
        "text": bert.text,
    }


def test_token_ids_in_and_clear_errors(reference_dir, vocab_dir):
    tokenizer, model = tokenizer_for(vocab_dir, "gpt2"), tiny_model(reference_dir, "gpt2")
    case = generation_cases(reference_dir, "gpt2")[1]
    result = fill_blanks(model, tokenizer, case["context_ids"], GREEDY)
    assert result.fill_ids == [b["generated_ids"] for b in case["blanks"]]
    with pytest.raises(ValueError, match="at most 232 fit.*--out-seq-length 24"):
        fill_blanks(model, tokenizer, "word " * 240 + "[MASK]", GREEDY)
    with pytest.raises(ValueError, match="empty text"):
        fill_blanks(model, tokenizer, "  ", GREEDY)
    with pytest.raises(ValueError, match="no blank"):
        fill_blanks(model, tokenizer, [tokenizer.cls_id, 464, tokenizer.eos_id], GREEDY)


def _first_blank_beams(model, tokenizer, case, config):
    """Beam search of the first blank of ``case`` on a fresh cache: (best, all ranked)."""
    context = case["context_ids"]
    cache_ = model.make_kv_cache(1, len(context) + config.out_seq_length)
    stops = (tokenizer.eop_id, tokenizer.eos_id)
    with torch.no_grad():
        prefill(model, cache_, [context], tokenizer.pad_id)
        ranked = beam_search_hypotheses(
            model,
            cache_,
            torch.tensor([tokenizer.sop_id]),
            torch.tensor([case["mask_positions"][0]]),
            config,
            stops,
            tokenizer.pad_id,
        )
    return ranked[0][0], ranked[0]


@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_one_beam_equals_greedy(reference_dir, vocab_dir, variant):
    tokenizer, model = tokenizer_for(vocab_dir, variant), tiny_model(reference_dir, variant)
    config = GenerationConfig(out_seq_length=24, num_beams=1)
    for case in generation_cases(reference_dir, variant):
        best, _ = _first_blank_beams(model, tokenizer, case, config)
        blank = case["blanks"][0]
        assert best.ids == blank["generated_ids"]
        assert (best.stop_id is None) == (blank["ended_by"] == "length")


def _teacher_forced_logprob(model, case, ids, stop_id, sop_id):
    """Sum of log p of ``ids`` (+ the stop token) after the context, by one full forward."""
    context, mask = case["context_ids"], case["mask_positions"][0]
    fed = [sop_id, *ids]
    targets = ids + ([stop_id] if stop_id is not None else [])
    tokens = torch.tensor([context + fed[: len(targets)]])
    positions = torch.cat(
        [
            torch.stack([torch.arange(len(context)), torch.zeros(len(context), dtype=torch.long)]),
            span_positions(torch.tensor([mask]), 1, len(targets))[0],
        ],
        dim=1,
    )[None]
    with torch.no_grad():
        logits = model(tokens, positions, len(context))[0, len(context) :]
    logprobs = logits.log_softmax(-1)
    return float(logprobs[torch.arange(len(targets)), torch.tensor(targets)].sum())


@pytest.mark.parametrize("penalty", [0.0, 1.0])
def test_beam_score_is_the_best_and_matches_a_full_forward(reference_dir, vocab_dir, penalty):
    tokenizer, model = tokenizer_for(vocab_dir, "bert"), tiny_model(reference_dir, "bert")
    config = GenerationConfig(out_seq_length=8, num_beams=4, length_penalty=penalty)
    greedy = GenerationConfig(out_seq_length=8, num_beams=1)
    for case in generation_cases(reference_dir, "bert")[:2]:
        best, ranked = _first_blank_beams(model, tokenizer, case, config)
        assert len(ranked) == 4
        assert best.score == max(h.score for h in ranked)
        for hyp in ranked:
            total = _teacher_forced_logprob(model, case, hyp.ids, hyp.stop_id, tokenizer.sop_id)
            assert hyp.score == pytest.approx(total / max(len(hyp.ids), 1) ** penalty, abs=1e-4)
        if penalty == 0.0:
            one, _ = _first_blank_beams(model, tokenizer, case, greedy)
            assert best.score >= one.score - 1e-5


def test_beam_search_batched_equals_one_at_a_time(reference_dir, vocab_dir):
    tokenizer, model = tokenizer_for(vocab_dir, "gpt2"), tiny_model(reference_dir, "gpt2")
    config = GenerationConfig(out_seq_length=6, num_beams=3, length_penalty=0.7)
    texts = [c["input_text"] for c in generation_cases(reference_dir, "gpt2")]
    batched = fill_blanks_batch(model, tokenizer, texts, config)
    for text, together in zip(texts, batched, strict=True):
        alone = fill_blanks(model, tokenizer, text, config)
        assert alone.fill_ids == together.fill_ids
        assert alone.scores == pytest.approx(together.scores, abs=1e-4)


def _has_repeated_bigram(ids: list[int]) -> bool:
    pairs = list(zip(ids, ids[1:], strict=False))
    return len(pairs) != len(set(pairs))


@pytest.mark.parametrize("beams", [1, 2])
def test_min_length_and_no_repeat_ngram_hold(reference_dir, vocab_dir, beams):
    tokenizer, model = tokenizer_for(vocab_dir, "gpt2"), tiny_model(reference_dir, "gpt2")
    cases = generation_cases(reference_dir, "gpt2")
    # Greedy: case 5's second blank stops at once on eop; case 0 repeats bigrams.
    assert cases[5]["blanks"][1]["generated_ids"] == []
    assert _has_repeated_bigram(cases[0]["blanks"][0]["generated_ids"])
    config = GenerationConfig(12, num_beams=beams, min_tgt_length=3, no_repeat_ngram_size=2)
    texts = [cases[5]["input_text"], cases[0]["input_text"]]
    for result in fill_blanks_batch(model, tokenizer, texts, config):
        assert min(len(f) for f in result.fill_ids) >= 3
        assert not any(_has_repeated_bigram(f) for f in result.fill_ids)


def test_sampling_is_seeded(reference_dir, vocab_dir):
    tokenizer, model = tokenizer_for(vocab_dir, "gpt2"), tiny_model(reference_dir, "gpt2")
    text = "The quick brown fox"
    runs = [
        fill_blanks(model, tokenizer, text, GenerationConfig(12, top_k=40, top_p=0.9, seed=seed))
        for seed in (1, 1, 2)
    ]
    assert runs[0].fill_ids == runs[1].fill_ids
    assert runs[0].fill_ids != runs[2].fill_ids


def _tp2_worker(rank, world, reference_dir, vocab_dir):
    from mpu import initialize_model_parallel

    initialize_model_parallel(world)
    problems = {}
    for variant in sorted(VARIANTS):
        model = load_tiny_model(reference_dir, variant, f"glm-tiny-{variant}_MP2")
        tokenizer = tokenizer_for(vocab_dir, variant)
        cases = generation_cases(reference_dir, variant)
        results = fill_blanks_batch(model, tokenizer, [c["input_text"] for c in cases], GREEDY)
        problems[variant] = mismatches(results, cases)
    return problems


@pytest.mark.slow
def test_mp2_checkpoint_at_tp2_fills_equal_reference(tmp_path, reference_dir, vocab_dir):
    """Sharded logits (parallel_output stays on) are gathered before choosing a token."""
    for problems in run_distributed(_tp2_worker, 2, tmp_path, reference_dir, vocab_dir):
        assert problems == {variant: [] for variant in VARIANTS}


def test_beam_search_leaves_inactive_rows_empty(reference_dir, vocab_dir):
    tokenizer, model = tokenizer_for(vocab_dir, "bert"), tiny_model(reference_dir, "bert")
    contexts = [c["context_ids"] for c in generation_cases(reference_dir, "bert")[:2]]
    config = GenerationConfig(out_seq_length=4, num_beams=2)
    cache_ = model.make_kv_cache(2, max(map(len, contexts)) + 4)
    with torch.no_grad():
        prefill(model, cache_, contexts, tokenizer.pad_id)
        spans = beam_search(
            model,
            cache_,
            torch.full((2,), tokenizer.sop_id),
            torch.tensor([7, 0]),
            config,
            (tokenizer.eop_id,),
            tokenizer.pad_id,
            active=torch.tensor([True, False]),
        )
    assert spans[0].score is not None and spans[0].ids
    assert spans[1].ids == [] and spans[1].score is None
