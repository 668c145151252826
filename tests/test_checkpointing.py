"""Loading GLM-layout checkpoints: tags, dtypes, shard counts, and clear errors on mismatch."""

import shutil

import numpy as np
import pytest
import torch

from checkpoint_io import CheckpointError, load_model_checkpoint, locate_checkpoint
from model import GLMModel
from model.glm import glm_partition_spec
from mpu.sharding import reshard_state_dicts
from tests.distributed import run_distributed
from tests.reference import case_array, generation_cases, model_input, tiny_config


def _write(folder, tag, shards, extra=None, tracker="latest_checkpointed_iteration.txt"):
    (folder / tag).mkdir(parents=True)
    if tracker:
        (folder / tracker).write_text(tag)
    for rank, state in enumerate(shards):
        payload = {"module": state, "iteration": 1000, **(extra or {})}
        torch.save(payload, folder / tag / f"mp_rank_{rank:02d}_model_states.pt")
    return folder


@pytest.fixture(scope="module")
def gpt2_state(reference_dir):
    path = reference_dir / "checkpoints/glm-tiny-gpt2/1000/mp_rank_00_model_states.pt"
    return torch.load(path, weights_only=True)["module"]


def _context_diff(model, reference_dir):
    case = generation_cases(reference_dir, "gpt2")[0]
    with torch.no_grad():
        logits = model(*model_input(case))[0].numpy()
    return float(np.abs(logits - case_array(reference_dir, "gpt2", 0, "context_logits")).max())


def test_release_tag_fp16_weights_and_rng_states_load(tmp_path, reference_dir, gpt2_state):
    half = {k: v.half() for k, v in gpt2_state.items()}
    rng = {
        "np_rng_state": np.random.get_state(),
        "random_rng_state": (3, (1, 2), None),
        "torch_rng_state": torch.get_rng_state(),
        "lr_scheduler": {"num_iters": 5},
    }
    folder = _write(tmp_path / "ckpt", "release", [half], extra=rng)
    model = GLMModel(tiny_config("gpt2"), seed=None).eval()
    checkpoint = load_model_checkpoint(model, folder)
    assert checkpoint["iteration"] == 1000
    loaded = model.state_dict()["transformer.layers.1.mlp.dense_h_to_4h.weight"]
    assert torch.equal(loaded, half["transformer.layers.1.mlp.dense_h_to_4h.weight"].float())
    assert _context_diff(model, reference_dir) < 0.05  # fp16 rounding of the weights only


def test_tag_folder_and_deepspeed_latest_file(tmp_path, reference_dir, gpt2_state):
    folder = _write(tmp_path / "ds", "global_step7", [gpt2_state], tracker="latest")
    for path in (folder, folder / "global_step7"):
        model = GLMModel(tiny_config("gpt2"), seed=None).eval()
        load_model_checkpoint(model, path)
        assert _context_diff(model, reference_dir) <= 1e-4


def test_mismatched_model_parallel_size_names_the_fix(reference_dir):
    model = GLMModel(tiny_config("gpt2"), seed=None)
    with pytest.raises(CheckpointError, match="model-parallel size 2 .* change_mp.py"):
        load_model_checkpoint(model, reference_dir / "checkpoints/glm-tiny-gpt2_MP2")


def test_missing_shard_is_named(tmp_path, gpt2_state):
    folder = _write(tmp_path / "c", "10", [gpt2_state, gpt2_state, gpt2_state])
    (folder / "10" / "mp_rank_01_model_states.pt").unlink()
    with pytest.raises(CheckpointError, match="lacks shard mp_rank_01_model_states.pt"):
        locate_checkpoint(folder)


def test_truncated_file_is_reported(tmp_path, gpt2_state):
    folder = _write(tmp_path / "c", "10", [gpt2_state])
    shard = folder / "10" / "mp_rank_00_model_states.pt"
    shard.write_bytes(shard.read_bytes()[:50_000])
    with pytest.raises(CheckpointError, match="truncated or corrupt"):
        load_model_checkpoint(GLMModel(tiny_config("gpt2"), seed=None), folder)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"hidden_size": 128}, "hidden size 64 but the model has 128: check --hidden-size"),
        ({"vocab_size": 50432}, "word_embeddings.weight has shape .*make-vocab-size-divisible-by"),
        ({"max_sequence_length": 512}, "position_embeddings.weight .* --max-position-embeddings"),
        ({"num_layers": 3}, "missing keys .* --num-layers"),
    ],
)
def test_model_mismatch_is_one_clear_error(reference_dir, overrides, message):
    model = GLMModel(tiny_config("gpt2", **overrides), seed=None)
    with pytest.raises(CheckpointError, match=message):
        load_model_checkpoint(model, reference_dir / "checkpoints/glm-tiny-gpt2")


def test_missing_folder_and_non_checkpoint(tmp_path):
    with pytest.raises(CheckpointError, match="does not exist"):
        locate_checkpoint(tmp_path / "nope")
    (tmp_path / "empty").mkdir()
    with pytest.raises(CheckpointError, match="not a GLM checkpoint"):
        locate_checkpoint(tmp_path / "empty")


def test_partition_spec_agrees_with_the_model_layers():
    model = GLMModel(tiny_config("gpt2"), seed=None)
    for name, param in model.named_parameters():
        expected = (
            (param.partition_dim, param.partition_stride)
            if getattr(param, "model_parallel", False)
            else None
        )
        assert glm_partition_spec(name) == expected, name


def test_reshard_matches_reference_mp2_shards(reference_dir, gpt2_state):
    ours = reshard_state_dicts([gpt2_state], 2, glm_partition_spec)
    for rank in range(2):
        path = (
            reference_dir / f"checkpoints/glm-tiny-gpt2_MP2/1000/mp_rank_{rank:02d}_model_states.pt"
        )
        theirs = torch.load(path, weights_only=True)["module"]
        assert all(torch.equal(ours[rank][k], theirs[k]) for k in theirs)


def _tp4_worker(rank, world, folder, reference_dir):
    import mpu

    mpu.initialize_model_parallel(world)
    model = GLMModel(tiny_config("gpt2", parallel_output=False), seed=None).eval()
    load_model_checkpoint(model, folder, tp_rank=rank, tp_world=world)
    return _context_diff(model, reference_dir)


@pytest.mark.slow
def test_mp4_checkpoint_at_tp4(tmp_path, reference_dir, gpt2_state):
    folder = _write(
        tmp_path / "mp4", "1000", reshard_state_dicts([gpt2_state], 4, glm_partition_spec)
    )
    assert max(run_distributed(_tp4_worker, 4, tmp_path, folder, reference_dir)) <= 1e-4
    shutil.rmtree(folder)


def test_safetensors_shards_load(tmp_path, reference_dir, gpt2_state):
    from safetensors.torch import save_file

    (tmp_path / "st" / "release").mkdir(parents=True)
    (tmp_path / "st" / "latest_checkpointed_iteration.txt").write_text("release")
    save_file(
        gpt2_state,
        tmp_path / "st/release/mp_rank_00_model_states.safetensors",
        metadata={"iteration": "1000"},
    )
    model = GLMModel(tiny_config("gpt2"), seed=None).eval()
    assert load_model_checkpoint(model, tmp_path / "st")["iteration"] == 1000
    assert _context_diff(model, reference_dir) <= 1e-4


def test_a_zero3_run_names_the_consolidation_command(tmp_path):
    run = tmp_path / "run"
    (run / "30").mkdir(parents=True)
    (run / "latest_checkpointed_iteration.txt").write_text("30")
    torch.save({"module": None}, run / "30" / "zero_pp_rank_0_mp_rank_00_model_states.pt")
    with pytest.raises(CheckpointError, match=r"ZeRO-3 .*change_mp\.py --from-zero"):
        locate_checkpoint(run)
