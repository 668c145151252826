"""change_mp.py: resharding GLM checkpoint folders between model-parallel sizes."""

import hashlib
import json

import pytest
import torch
from safetensors.torch import load_file

import change_mp
from checkpoint_io import CheckpointError, load_model_checkpoint, locate_checkpoint
from interop.reshard import reshard_checkpoints, reshard_folder
from model import GLMModel
from tests.distributed import run_distributed
from tests.reference import case_array, generation_cases, model_input, tiny_config


def _fixture(reference_dir, variant, mp=1):
    suffix = f"_MP{mp}" if mp > 1 else ""
    return reference_dir / "checkpoints" / f"glm-tiny-{variant}{suffix}"


def _shards(folder):
    location = locate_checkpoint(folder)
    return [
        torch.load(location.shard_path(r), weights_only=True) for r in range(location.num_shards)
    ]


def _digest(folder):
    return {
        p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in folder.rglob("*") if p.is_file()
    }


@pytest.fixture
def fp16_release(tmp_path, reference_dir):
    """The gpt2 fixture as an fp16 ``release`` checkpoint with RNG and optimizer entries."""
    source = _shards(_fixture(reference_dir, "gpt2"))[0]
    folder = tmp_path / "release_fp16"
    (folder / "release").mkdir(parents=True)
    (folder / "latest_checkpointed_iteration.txt").write_text("release")
    payload = {
        "module": {k: v.half() for k, v in source["module"].items()},
        "iteration": 5,
        "torch_rng_state": torch.get_rng_state(),
        "optimizer": {"state": {}},
        "mp_world_size": 1,
    }
    torch.save(payload, folder / "release" / "mp_rank_00_model_states.pt")
    return folder


def test_round_trip_1_2_4_1_is_bit_exact_for_fp16_release(tmp_path, fp16_release):
    before = _digest(fp16_release)
    mp2 = reshard_folder(fp16_release, 2, out=tmp_path / "mp2").out
    mp4 = reshard_folder(mp2, 4, out=tmp_path / "mp4").out
    back = reshard_folder(mp4, 1, out=tmp_path / "back").out
    assert _digest(fp16_release) == before  # the source is never modified
    assert [locate_checkpoint(f).num_shards for f in (mp2, mp4, back)] == [2, 4, 1]
    assert (mp4 / "latest").read_text() == "release"
    original, restored = _shards(fp16_release)[0], _shards(back)[0]
    assert list(restored["module"]) == list(original["module"])
    for key, value in original["module"].items():
        assert restored["module"][key].dtype == torch.float16
        assert torch.equal(restored["module"][key], value), key
    quarter = _shards(mp4)[3]
    assert quarter["module"]["word_embeddings.weight"].shape == (50304 // 4, 64)
    assert quarter["iteration"] == 5 and quarter["mp_world_size"] == 4
    assert torch.equal(quarter["torch_rng_state"], original["torch_rng_state"])
    assert "optimizer" not in quarter  # laid out for the source ranks: dropped


@pytest.mark.parametrize("variant", ["gpt2", "bert"])
def test_positional_cli_matches_the_reference_mp2_shards(tmp_path, reference_dir, variant):
    source = tmp_path / f"glm-tiny-{variant}"
    source.mkdir()
    for item in _fixture(reference_dir, variant).rglob("*"):
        target = source / item.relative_to(_fixture(reference_dir, variant))
        target.mkdir(exist_ok=True) if item.is_dir() else target.write_bytes(item.read_bytes())
    assert change_mp.main([f"{source}/", "2"]) == 0
    out = tmp_path / f"glm-tiny-{variant}_MP2"
    for tracker in ("latest_checkpointed_iteration.txt", "latest"):
        assert (out / tracker).read_text() == "1000"
    ours, theirs = _shards(out), _shards(_fixture(reference_dir, variant, mp=2))
    for rank in range(2):
        assert list(ours[rank]["module"]) == list(theirs[rank]["module"])
        for key, value in theirs[rank]["module"].items():
            assert torch.equal(ours[rank]["module"][key], value), (rank, key)


def _context_logits_worker(rank, world, folders, reference_dir):
    import mpu

    mpu.initialize_model_parallel(world)
    logits = []
    for folder in folders:
        model = GLMModel(tiny_config("gpt2", parallel_output=False), seed=None).eval()
        load_model_checkpoint(model, folder, tp_rank=rank, tp_world=world)
        with torch.no_grad():
            logits.append(model(*model_input(generation_cases(reference_dir, "gpt2")[0]))[0])
    return logits


@pytest.mark.slow
def test_resharded_checkpoints_give_the_mp1_logits_at_tp4(tmp_path, reference_dir, fp16_release):
    """fp32 (tag 1000) and fp16 (tag release) checkpoints resharded to MP=4, run at TP=4."""
    fp32 = reshard_folder(_fixture(reference_dir, "gpt2"), 4, out=tmp_path / "fp32").out
    fp16 = reshard_folder(fp16_release, 4, out=tmp_path / "fp16").out
    model = GLMModel(tiny_config("gpt2"), seed=None).eval()
    load_model_checkpoint(model, fp16_release)
    with torch.no_grad():
        fp16_mp1 = model(*model_input(generation_cases(reference_dir, "gpt2")[0]))[0]
    reference = torch.from_numpy(case_array(reference_dir, "gpt2", 0, "context_logits"))
    results = run_distributed(_context_logits_worker, 4, tmp_path, [fp32, fp16], reference_dir)
    for fp32_logits, fp16_logits in results:
        assert (fp32_logits - reference).abs().max() <= 1e-4
        assert (fp16_logits - fp16_mp1).abs().max() <= 1e-4


def test_safetensors_output_holds_the_same_tensors(tmp_path, reference_dir):
    out = tmp_path / "st"
    assert (
        change_mp.main(
            [str(_fixture(reference_dir, "bert")), "2", "--safetensors", "--out", str(out)]
        )
        == 0
    )
    reference = _shards(_fixture(reference_dir, "bert", mp=2))
    for rank in range(2):
        tensors = load_file(out / "1000" / f"mp_rank_{rank:02d}_model_states.safetensors")
        assert tensors.keys() == reference[rank]["module"].keys()
        assert all(torch.equal(tensors[k], v) for k, v in reference[rank]["module"].items())


def test_heads_and_prompt_encoder_are_replicated_not_split():
    hidden = 8
    module = {
        "model.word_embeddings.weight": torch.randn(16, hidden),
        "model.transformer.layers.0.attention.query_key_value.weight": torch.randn(24, hidden),
        "model.transformer.layers.0.attention.dense.weight": torch.randn(hidden, hidden),
        "model.prompt_spell.mlp_head.0.weight": torch.randn(hidden, 2 * hidden),
        "pool_layer.weight": torch.randn(hidden, hidden),
        "multichoice_head.weight": torch.randn(1, hidden),
    }
    shards = reshard_checkpoints([{"module": module, "iteration": 3}], 2)
    for key in (
        "model.prompt_spell.mlp_head.0.weight",
        "pool_layer.weight",
        "multichoice_head.weight",
    ):
        assert all(torch.equal(s["module"][key], module[key]) for s in shards), key
    assert shards[1]["module"]["model.word_embeddings.weight"].shape == (8, hidden)
    assert shards[1]["module"]["model.transformer.layers.0.attention.dense.weight"].shape == (
        hidden,
        hidden // 2,
    )


@pytest.mark.parametrize(
    ("target", "extra", "message"),
    [
        ("5", [], "padded vocabulary \\(50304 rows .* not divisible by model-parallel size 5"),
        ("8", ["--num-attention-heads", "4"], "--num-attention-heads 4 is not divisible by .* 8"),
    ],
)
def test_indivisible_sizes_are_one_clear_error(
    tmp_path, reference_dir, capsys, target, extra, message
):
    argv = [str(_fixture(reference_dir, "gpt2")), target, "--out", str(tmp_path / "o"), *extra]
    with pytest.raises(SystemExit) as exit_info:
        change_mp.main(argv)
    assert exit_info.value.code == 2
    assert capsys.readouterr().err.count("\n") == 1
    with pytest.raises(CheckpointError, match=message):
        reshard_folder(
            _fixture(reference_dir, "gpt2"), int(target), out=tmp_path / "o", num_attention_heads=4
        )
    assert not (tmp_path / "o").exists()


def test_existing_output_is_refused_and_a_failed_write_leaves_nothing(
    tmp_path, reference_dir, monkeypatch
):
    (tmp_path / "taken").mkdir()
    with pytest.raises(FileExistsError, match="already exists"):
        reshard_folder(_fixture(reference_dir, "bert"), 2, out=tmp_path / "taken")
    calls = []

    def failing_save(obj, path):
        calls.append(path)
        if len(calls) == 2:
            raise OSError("disk full")
        torch.serialization.save(obj, path)

    monkeypatch.setattr("interop.folders.torch.save", failing_save)
    with pytest.raises(OSError, match="disk full"):
        reshard_folder(_fixture(reference_dir, "bert"), 2, out=tmp_path / "new")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken"]


def test_same_size_without_out_is_a_no_op(reference_dir, capsys):
    assert change_mp.main([str(_fixture(reference_dir, "bert")), "1"]) == 0
    assert "nothing to do" in capsys.readouterr().out


def test_run_config_gives_the_heads_and_is_carried_over(tmp_path, reference_dir):
    source = tmp_path / "run"
    (source / "1000").mkdir(parents=True)
    (source / "latest").write_text("1000")
    shard = _fixture(reference_dir, "bert") / "1000" / "mp_rank_00_model_states.pt"
    (source / "1000" / shard.name).write_bytes(shard.read_bytes())
    run_config = {"model": {"num_attention_heads": 4}, "parallel": {"model_parallel_size": 1}}
    (source / "1000" / "config.json").write_text(json.dumps(run_config))
    with pytest.raises(CheckpointError, match="--num-attention-heads 4 is not divisible .* 8"):
        reshard_folder(source, 8, out=tmp_path / "mp8")
    out = reshard_folder(source, 2, out=tmp_path / "mp2").out
    carried = json.loads((out / "1000" / "config.json").read_text())
    assert carried == {**run_config, "parallel": {"model_parallel_size": 2}}
