"""Exported Hugging Face folders load offline in transformers and compute what our model does."""

import json

import pytest
import torch

from model.heads import GLMForMultiTokenCloze
from tests.interop_helpers import (
    export_fixture,
    hf_load,
    hf_logits,
    our_model,
    our_tokenizer,
    tokenizer_config,
)
from tests.reference import case_array, generation_cases, model_input

SINGLE_BLANK_CASES = {"gpt2": [0, 2, 3], "bert": [0]}  # eop and length endings


@pytest.fixture(scope="module")
def exported(tmp_path_factory, reference_dir, vocab_dir):
    root = tmp_path_factory.mktemp("hf")
    return {
        "gpt2": export_fixture(reference_dir, vocab_dir, "gpt2", root / "gpt2"),
        "bert": export_fixture(reference_dir, vocab_dir, "bert", root / "bert", safetensors=True),
    }


@pytest.fixture(scope="module")
def hf_gpt2(exported):
    return hf_load(exported["gpt2"], "AutoTokenizer"), hf_load(
        exported["gpt2"], "AutoModelForSeq2SeqLM"
    )


def test_folder_follows_the_thudm_layout(exported):
    config = json.loads((exported["gpt2"] / "config.json").read_text())
    assert config["model_type"] == "glm" and config["auto_map"]["AutoModelForSeq2SeqLM"]
    assert (config["num_layers"], config["hidden_size"], config["vocab_size"]) == (2, 64, 50304)
    assert (config["max_sequence_length"], config["block_position_encoding"]) == (256, True)
    weights = torch.load(exported["gpt2"] / "pytorch_model.bin", weights_only=True)
    assert "glm.transformer.layers.1.attention.query_key_value.weight" in weights
    assert weights["glm.word_embeddings.weight"].shape == (50304, 64)  # MP=2 shards merged
    assert (exported["bert"] / "model.safetensors").is_file()
    for name in ("modeling_glm.py", "tokenization_glm.py", "vocab.json", "merges.txt"):
        assert (exported["gpt2"] / name).is_file()


@pytest.mark.parametrize("variant", ["gpt2", "bert"])
def test_logits_equal_ours_and_the_reference(exported, reference_dir, variant):
    model = hf_load(exported[variant], "AutoModelForSeq2SeqLM")
    ours = our_model(reference_dir, variant)
    for index, case in enumerate(generation_cases(reference_dir, variant)):
        tokens, positions, sep = model_input(case)
        theirs = hf_logits(model, tokens, positions, sep)[0]
        with torch.no_grad():
            assert (theirs - ours(tokens, positions, sep)[0]).abs().max() <= 1e-5
        reference = torch.from_numpy(case_array(reference_dir, variant, index, "context_logits"))
        assert (theirs - reference).abs().max() <= 1e-4


@pytest.mark.parametrize("variant", ["gpt2", "bert"])
def test_tokenizer_gives_our_ids_and_text(exported, reference_dir, vocab_dir, variant):
    tokenizer = hf_load(exported[variant], "AutoTokenizer")
    ours = our_tokenizer(variant, vocab_dir)
    assert (tokenizer.sop_token_id, tokenizer.eop_token_id) == (ours.sop_id, ours.eop_id)
    assert (tokenizer.mask_token_id, tokenizer.cls_token_id) == (ours.mask_id, ours.cls_id)
    assert (tokenizer.eos_token_id, tokenizer.pad_token_id) == (ours.eos_id, ours.pad_id)
    for case in generation_cases(reference_dir, variant):
        assert tokenizer(case["effective_text"])["input_ids"] == case["context_ids"]
        assert tokenizer.decode(case["output_ids"]) == case["output_text"]


@pytest.mark.parametrize("variant", ["gpt2", "bert"])
def test_greedy_generate_gives_our_fills(exported, reference_dir, vocab_dir, variant):
    from model.blank_filling import fill_blanks
    from model.generation import GenerationConfig

    tokenizer = hf_load(exported[variant], "AutoTokenizer")
    model = hf_load(exported[variant], "AutoModelForSeq2SeqLM")
    ours, our_tok = our_model(reference_dir, variant), our_tokenizer(variant, vocab_dir)
    for index in SINGLE_BLANK_CASES[variant]:
        case = generation_cases(reference_dir, variant)[index]
        inputs = tokenizer(case["effective_text"], return_tensors="pt")
        inputs = tokenizer.build_inputs_for_generation(inputs, max_gen_length=24)
        out = model.generate(**inputs, max_new_tokens=24, eos_token_id=tokenizer.eop_token_id)
        fill = out[0, inputs["input_ids"].shape[1] :].tolist()
        fill = fill[:-1] if fill[-1] == tokenizer.eop_token_id else fill
        expected = fill_blanks(ours, our_tok, case["input_text"], GenerationConfig(24, top_k=1))
        assert fill == expected.fill_ids[0] == case["blanks"][0]["generated_ids"], index


def _fill(tokenizer, row: list[int]) -> list[int]:
    stops = (tokenizer.eop_token_id, tokenizer.eos_token_id)
    return row[: next((k for k, i in enumerate(row) if i in stops), len(row))]


def test_batched_generation_with_padding_equals_one_at_a_time(hf_gpt2):
    tokenizer, model = hf_gpt2
    texts = ["Tsinghua University is located in [MASK].", "One minus one equals [MASK], yes"]
    fills = []
    for text in texts:
        inputs = tokenizer.build_inputs_for_generation(tokenizer(text, return_tensors="pt"), 8)
        out = model.generate(**inputs, max_new_tokens=8, use_cache=False)
        fills.append(_fill(tokenizer, out[0, inputs["input_ids"].shape[1] :].tolist()))
    batch = tokenizer(texts, return_tensors="pt", padding=True)
    assert batch["attention_mask"].min() == 0  # the rows really differ in length
    inputs = tokenizer.build_inputs_for_generation(batch, max_gen_length=8)
    out = model.generate(**inputs, max_new_tokens=8)
    start = inputs["input_ids"].shape[1]
    assert [_fill(tokenizer, row[start:].tolist()) for row in out] == fills


def test_multiple_choice_scores_equal_our_cloze_scores(exported, reference_dir, vocab_dir):
    tokenizer = hf_load(exported["gpt2"], "AutoTokenizer")
    model = hf_load(exported["gpt2"], "AutoModelForMultipleChoice")
    texts = ["Tsinghua University is located in [MASK].", "One minus one equals zero? [MASK]"]
    choices = [["Beijing", "Shanghai city"], ["Yes", "No", "Maybe so"]]
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    with torch.no_grad():
        scores = model(**tokenizer.build_inputs_for_multiple_choice(inputs, choices)).logits
    assert scores.shape == (2, 3) and scores[0, 2] == float("-inf")  # row 0 has 2 choices
    cloze = GLMForMultiTokenCloze(our_model(reference_dir, "gpt2")).eval()
    ours = our_tokenizer("gpt2", vocab_dir)
    for row, text in enumerate(texts):
        context = [ours.cls_id, *ours.encode(text), ours.eos_id]
        for column, choice in enumerate(choices[row]):
            answer = ours.encode(choice)
            tokens = context + [ours.sop_id, *answer[:-1]]
            n, sep = len(answer), len(context)
            positions = [list(range(sep)) + [context.index(ours.mask_id)] * n,
                         [0] * sep + list(range(1, n + 1))]  # fmt: skip
            with torch.no_grad():
                expected = cloze(
                    torch.tensor([tokens]),
                    torch.tensor([positions]),
                    torch.tensor([sep]),
                    torch.tensor([[0] * sep + answer]),
                    torch.tensor([[0] * sep + [1] * n]),
                )
            assert abs(float(scores[row, column]) - float(expected[0])) <= 1e-5


def test_training_loss_example_gives_our_loss(hf_gpt2, reference_dir, vocab_dir):
    tokenizer, model = hf_gpt2
    texts = ["Tsinghua University is located in [MASK].", "One minus one equals zero, is it "
             "correct? Answer: [MASK]"]  # fmt: skip
    inputs = tokenizer(texts, return_tensors="pt", padding=True)
    inputs = tokenizer.build_inputs_for_generation(
        inputs, targets=["Beijing", "No"], max_gen_length=8, padding=False
    )
    with torch.no_grad():
        loss = model(**inputs).loss
    ours, tok = our_model(reference_dir, "gpt2"), our_tokenizer("gpt2", vocab_dir)
    total, count = 0.0, 0
    for text, target in zip(texts, ["Beijing", "No"], strict=True):
        context, answer = [tok.cls_id, *tok.encode(text), tok.eos_id], tok.encode(target)
        answer.append(tok.eop_id)
        n, sep = len(answer), len(context)
        positions = [list(range(sep)) + [context.index(tok.mask_id)] * n,
                     [0] * sep + list(range(1, n + 1))]  # fmt: skip
        with torch.no_grad():
            logits = ours(torch.tensor([context + [tok.sop_id, *answer[:-1]]]),
                          torch.tensor([positions]), torch.tensor([sep]))  # fmt: skip
        log_probs = torch.log_softmax(logits[0, sep:].float(), -1)
        total -= float(log_probs[torch.arange(n), torch.tensor(answer)].sum())
        count += n
    assert abs(float(loss) - total / count) <= 1e-5


def test_cli_takes_model_descriptor_flags_and_checks_shapes(tmp_path, reference_dir, vocab_dir):
    from scripts.convert_glm_checkpoint_to_transformers import main

    cfg = tokenizer_config("bert", vocab_dir)
    flags = ["--block-lm", "--cloze-eval", "--num-layers", "2", "--hidden-size", "64",
             "--num-attention-heads", "4", "--tokenizer-type", cfg.tokenizer_type,
             "--tokenizer-model-type", cfg.tokenizer_model_type,
             "--tokenizer-path", cfg.tokenizer_path]  # fmt: skip
    shard = reference_dir / "checkpoints/glm-tiny-bert/1000/mp_rank_00_model_states.pt"
    assert main([str(shard), *flags, "--out", str(tmp_path / "hf"), "--dtype", "fp16"]) == 0
    weights = torch.load(tmp_path / "hf" / "pytorch_model.bin", weights_only=True)
    assert weights["glm.word_embeddings.weight"].dtype == torch.float16
    bad = [str(shard), *flags, "--num-layers", "3", "--out", str(tmp_path / "bad")]
    with pytest.raises(SystemExit) as exit_info:
        main(bad)
    assert exit_info.value.code == 2
    assert not (tmp_path / "bad").exists()


def test_our_run_config_supplies_heads_and_tokenizer(tmp_path, reference_dir, vocab_dir):
    from dataclasses import asdict

    from interop.hf_export import export_to_hf

    source = tmp_path / "run" / "1000"
    source.mkdir(parents=True)
    shard = reference_dir / "checkpoints/glm-tiny-bert/1000/mp_rank_00_model_states.pt"
    (source / shard.name).write_bytes(shard.read_bytes())
    run_config = {"model": {"num_attention_heads": 4},
                  "tokenizer": asdict(tokenizer_config("bert", vocab_dir))}  # fmt: skip
    (source / "config.json").write_text(json.dumps(run_config))
    out = export_to_hf(source, tmp_path / "hf")
    config = json.loads((out / "config.json").read_text())
    assert config["num_attention_heads"] == 4 and (out / "vocab.txt").is_file()
    with pytest.raises(ValueError, match="no saved run configuration: give --num-attention-heads"):
        export_to_hf(reference_dir / "checkpoints/glm-tiny-bert", tmp_path / "hf2")
