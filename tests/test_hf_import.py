"""Hugging Face GLM folders import back into GLM checkpoints; the GLM-10B-Chinese id quirk."""

import json

import pytest
import torch
from safetensors.torch import save_file

from checkpoint_io import CheckpointError, load_model_checkpoint, locate_checkpoint
from interop.hf_export import export_to_hf
from interop.hf_import import import_from_hf
from interop.reshard import reshard_checkpoints
from model import GLMConfig, GLMModel
from scripts.convert_transformers_to_glm import main as import_main
from tests.interop_helpers import export_fixture, hf_load, hf_logits, tokenizer_config
from tests.reference import case_array, generation_cases, model_input, tiny_config


def _module(folder, rank=0):
    location = locate_checkpoint(folder)
    return torch.load(location.shard_path(rank), weights_only=True)["module"]


@pytest.fixture(scope="module")
def gpt2_hf(tmp_path_factory, reference_dir, vocab_dir):
    return export_fixture(reference_dir, vocab_dir, "gpt2", tmp_path_factory.mktemp("x") / "hf")


def test_export_then_import_restores_the_weights_and_logits(tmp_path, gpt2_hf, reference_dir):
    out = import_from_hf(gpt2_hf, tmp_path / "ckpt").out
    original = _module(reference_dir / "checkpoints" / "glm-tiny-gpt2")
    restored = _module(out)
    assert list(restored) == list(original)
    assert all(torch.equal(restored[k], v) for k, v in original.items())
    model = GLMModel(tiny_config("gpt2"), seed=None).eval()
    load_model_checkpoint(model, out)
    case = generation_cases(reference_dir, "gpt2")[1]
    with torch.no_grad():
        logits = model(*model_input(case))[0]
    reference = torch.from_numpy(case_array(reference_dir, "gpt2", 1, "context_logits"))
    assert (logits - reference).abs().max() <= 1e-4


def test_cli_imports_at_mp2_and_prints_the_model_flags(tmp_path, gpt2_hf, reference_dir, capsys):
    assert import_main([str(gpt2_hf), "--out", str(tmp_path / "mp2"), "--mp", "2"]) == 0
    flags = "--block-lm --num-layers 2 --hidden-size 64 --num-attention-heads 4 "
    assert flags + "--max-position-embeddings 256" in capsys.readouterr().out
    for rank in range(2):
        ours = _module(tmp_path / "mp2", rank)
        theirs = _module(reference_dir / "checkpoints" / "glm-tiny-gpt2_MP2", rank)
        assert all(torch.equal(ours[k], v) for k, v in theirs.items())


@pytest.mark.parametrize("fmt", ["bin", "safetensors"])
def test_thudm_folder_with_sharded_unprefixed_weights(tmp_path, reference_dir, fmt):
    """The THUDM repositories' layout: config.json fields, weights possibly sharded."""
    state = _module(reference_dir / "checkpoints" / "glm-tiny-bert")
    folder = tmp_path / "thudm"
    folder.mkdir()
    config = {"model_type": "glm", "num_layers": 2, "hidden_size": 64, "num_attention_heads": 4,
              "vocab_size": 30592, "max_sequence_length": 256, "block_position_encoding": True,
              "architectures": ["GLMModel"], "torch_dtype": "float16"}  # fmt: skip
    (folder / "config.json").write_text(json.dumps(config))
    keys = list(state)
    names = [f"model-0000{i}-of-00002.{fmt}" for i in (1, 2)]
    halves = [keys[: len(keys) // 2], keys[len(keys) // 2 :]]
    for name, part in zip(names, halves, strict=True):
        piece = {k: state[k].half().contiguous() for k in part}
        save_file(piece, folder / name) if fmt == "safetensors" else torch.save(
            piece, folder / name
        )
    index = (
        "model.safetensors.index.json" if fmt == "safetensors" else "pytorch_model.bin.index.json"
    )
    weight_map = {k: name for name, part in zip(names, halves, strict=True) for k in part}
    (folder / index).write_text(json.dumps({"weight_map": weight_map}))
    restored = _module(import_from_hf(folder, tmp_path / "ckpt").out)
    assert all(torch.equal(restored[k], v.half()) for k, v in state.items())


def test_foreign_or_incomplete_folders_are_clear_errors(tmp_path, gpt2_hf, vocab_dir):
    (tmp_path / "gpt").mkdir()
    (tmp_path / "gpt" / "config.json").write_text(json.dumps({"model_type": "gpt2"}))
    with pytest.raises(CheckpointError, match="not a GLM .* model_type 'gpt2'"):
        import_from_hf(tmp_path / "gpt", tmp_path / "o")
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / "config.json").write_text((gpt2_hf / "config.json").read_text())
    with pytest.raises(FileNotFoundError, match="no model.safetensors or pytorch_model.bin"):
        import_from_hf(tmp_path / "empty", tmp_path / "o")
    with pytest.raises(ValueError, match="padded vocabulary of 30592 but .* 50304 rows"):
        import_from_hf(
            gpt2_hf, tmp_path / "o", tokenizer_config=tokenizer_config("bert", vocab_dir)
        )
    assert not (tmp_path / "o").exists()


# --- GLM-10B-Chinese: [gMASK] shares id 50007 with <|endofpiece|> -----------------------------


def _chinese_config(vocab_dir, fix=False):
    from data_utils.tokenization import TokenizerConfig

    return TokenizerConfig(tokenizer_type="ChineseSPTokenizer", tokenizer_path=str(vocab_dir),
                           task_mask=True, fix_command_token=fix)  # fmt: skip


@pytest.fixture(scope="module")
def chinese(tmp_path_factory, vocab_dir):
    """A tiny random model on the Chinese vocabulary, saved as a release checkpoint."""
    root = tmp_path_factory.mktemp("zh")
    config = GLMConfig(num_layers=2, hidden_size=64, num_attention_heads=4, vocab_size=50048,
                       max_sequence_length=64)  # fmt: skip
    model = GLMModel(config, seed=5).eval()
    (root / "ckpt" / "release").mkdir(parents=True)
    (root / "ckpt" / "latest_checkpointed_iteration.txt").write_text("release")
    shard = reshard_checkpoints([{"module": model.state_dict()}], 1)[0]
    torch.save(shard, root / "ckpt" / "release" / "mp_rank_00_model_states.pt")
    hf = export_to_hf(root / "ckpt", root / "hf", _chinese_config(vocab_dir), 4)
    return model, root, hf


def test_chinese_export_gives_gmask_its_own_id_and_row(chinese, vocab_dir):
    from data_utils.tokenization import build_tokenizer

    model, _, hf = chinese
    tokenizer = hf_load(hf, "AutoTokenizer")
    assert (tokenizer.eop_token_id, tokenizer.gmask_token_id) == (50007, 50009)
    weights = torch.load(hf / "pytorch_model.bin", weights_only=True)["glm.word_embeddings.weight"]
    original = model.state_dict()["word_embeddings.weight"]
    assert torch.equal(weights[50009], original[50007])
    assert torch.equal(weights[:50009], original[:50009])

    text = "凯旋门位于意大利米兰市古城堡旁。1807年为纪念[gMASK]"
    ours = build_tokenizer(_chinese_config(vocab_dir))
    our_ids = [ours.cls_id, *ours.encode(text)]  # no eos after a final [gMASK]
    hf_ids = tokenizer(text)["input_ids"]
    assert hf_ids == [50009 if i == 50007 else i for i in our_ids] and our_ids[-1] == 50007
    positions = torch.stack([torch.arange(len(our_ids)), torch.zeros(len(our_ids), dtype=int)])
    sep = torch.tensor([len(our_ids)])
    theirs = hf_logits(hf_load(hf, "AutoModelForSeq2SeqLM"), torch.tensor([hf_ids]),
                       positions[None], sep)[0]  # fmt: skip
    with torch.no_grad():
        expected = model(torch.tensor([our_ids]), positions[None], sep)[0]
    columns = torch.arange(50048) != 50009
    assert (theirs[:, columns] - expected[:, columns]).abs().max() <= 1e-5
    assert torch.equal(theirs[:, 50009], theirs[:, 50007])


def test_chinese_import_moves_gmask_back_to_the_shared_id(chinese, tmp_path, vocab_dir):
    model, _, hf = chinese
    out = import_from_hf(hf, tmp_path / "back", tokenizer_config=_chinese_config(vocab_dir)).out
    restored, original = _module(out), model.state_dict()
    for key, value in original.items():
        if key != "word_embeddings.weight":
            assert torch.equal(restored[key], value), key
    rows = restored["word_embeddings.weight"]
    assert torch.equal(rows[:50009], original["word_embeddings.weight"][:50009])


def test_chinese_model_with_fixed_ids_exports_unchanged(chinese, tmp_path, vocab_dir):
    model, root, _ = chinese
    hf = export_to_hf(root / "ckpt", tmp_path / "hf", _chinese_config(vocab_dir, fix=True), 4)
    weights = torch.load(hf / "pytorch_model.bin", weights_only=True)["glm.word_embeddings.weight"]
    assert torch.equal(weights, model.state_dict()["word_embeddings.weight"])
