"""ZeRO-2 and ZeRO-3 training checkpoints consolidate to the live model's weights.

Two gloo processes train a tiny GLMModel for one step under DeepSpeed (ZeRO-2 and ZeRO-3 with
data-parallel size 2, then ZeRO-2 with tensor-parallel size 2) and save checkpoints; the
consolidated release checkpoint must hold exactly the weights the engines hold. Under ZeRO-3,
finetuning's best checkpoint is saved whole and reloads into the partitioned parameters.
"""

import pytest
import torch

import change_mp
from checkpoint_io import CheckpointError, load_model_checkpoint, locate_checkpoint
from interop.reshard import reshard_folder
from interop.zero import consolidate_zero_checkpoint
from model import GLMConfig, GLMModel
from model.glm import glm_partition_spec
from mpu.sharding import merge_tensors
from tests.distributed import run_distributed
from training.epochs import load_best_model, save_best_model

CONFIG = dict(
    num_layers=2,
    hidden_size=32,
    num_attention_heads=4,
    vocab_size=256,
    max_sequence_length=32,
    embedding_dropout_prob=0.0,
    attention_dropout_prob=0.0,
    output_dropout_prob=0.0,
)


def _step(engine):
    generator = torch.Generator().manual_seed(torch.distributed.get_rank())
    ids = torch.randint(0, 256, (2, 8), generator=generator)
    positions = torch.stack([torch.arange(8).expand(2, 8), torch.zeros(2, 8, dtype=torch.long)], 1)
    loss = engine(ids, positions, 4).float().logsumexp(-1).mean()
    engine.backward(loss)
    engine.step()


def _live_weights(engine, stage):
    import deepspeed

    params = list(engine.module.parameters())
    with deepspeed.zero.GatheredParameters(params, enabled=stage == 3):
        return {k: v.detach().clone() for k, v in engine.module.state_dict().items()}


def _train_and_save(model, save_dir, stage, mpu=None):
    import deepspeed

    config = {
        "train_micro_batch_size_per_gpu": 2,
        "zero_optimization": {"stage": stage},
        "steps_per_print": 10**6,
    }
    # torch's AdamW: DeepSpeed's own CPU Adam would JIT-compile for minutes.
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    engine, *_ = deepspeed.initialize(model=model, optimizer=optimizer, config=config, mpu=mpu)
    _step(engine)
    engine.save_checkpoint(str(save_dir), client_state={"iteration": 7})
    return engine, _live_weights(engine, stage)


def _best_model_round_trip(engine, save_dir):
    """Finetuning's best checkpoint under ZeRO-3: saved whole, and reloaded into the
    partitioned parameters after training has moved them on."""
    saved_from = _live_weights(engine, 3)
    assert engine.module.transformer.final_layernorm.weight.numel() == 0  # partitioned
    save_best_model(engine.module, save_dir, 7)
    _step(engine)
    moved = _live_weights(engine, 3)
    assert load_best_model(engine.module, save_dir)
    return saved_from, moved, _live_weights(engine, 3)


def _zero_worker(rank, world, tmp_path):
    import os
    import sys
    import types

    # DeepSpeed imports its Muon optimizer for type checks, and that import compiles kernels
    # (10-25 s on CPU). We never use Muon: stand-ins answer the checks.
    for name in ("muon_optimizer", "original_muon"):
        stub = types.ModuleType(f"deepspeed.runtime.zero.muon.{name}")
        stub.MuonWithAuxAdam = type("MuonWithAuxAdam", (), {})
        stub.muon_update = stub.adam_update = None
        sys.modules[stub.__name__] = stub
    import deepspeed

    import mpu

    os.environ["LOCAL_RANK"] = str(rank)  # what a launcher sets; DeepSpeed checks it
    deepspeed.init_distributed(dist_backend="gloo")
    mpu.initialize_model_parallel(1)  # data-parallel size 2, for save_best_model's ranks
    live = {}
    for stage in (2, 3):
        model = GLMModel(GLMConfig(**CONFIG), seed=3)
        engine, live[f"dp{stage}"] = _train_and_save(model, tmp_path / f"dp_zero{stage}", stage)
    live["best"] = _best_model_round_trip(engine, tmp_path / "best_zero3")
    mpu.destroy_model_parallel()
    mpu.initialize_model_parallel(world)
    model = GLMModel(GLMConfig(**CONFIG), seed=3)
    live["tp2"] = _train_and_save(model, tmp_path / "tp_zero2", 2, mpu=mpu)[1]
    return live


def _check_best_model(runs, live):
    saved = torch.load(runs / "best_zero3" / "best" / "mp_rank_00_model_states.pt")["module"]
    for rank in range(2):
        saved_from, moved, reloaded = live[rank]["best"]
        assert list(saved) == list(saved_from)
        for key, value in saved_from.items():
            assert torch.equal(saved[key], value), key
            assert torch.equal(reloaded[key], value), (rank, key)
        assert not torch.equal(moved["word_embeddings.weight"], saved["word_embeddings.weight"])


def _check_data_parallel(runs, live):
    for stage in (2, 3):
        (state,), iteration = consolidate_zero_checkpoint(runs / f"dp_zero{stage}")
        expected = live[0][f"dp{stage}"]
        assert iteration == 7
        assert list(state) == list(expected)
        for key, value in expected.items():
            assert state[key].dtype == torch.float32
            assert torch.equal(state[key], value), (stage, key)


def _check_tensor_parallel(runs, live):
    (state,), _ = consolidate_zero_checkpoint(runs / "tp_zero2")
    shards = [live[rank]["tp2"] for rank in range(2)]
    for key, value in state.items():
        layout = glm_partition_spec(key)
        full = merge_tensors([s[key] for s in shards], *layout) if layout else shards[0][key]
        assert torch.equal(value, full), key


def _check_cli(runs, live, tmp_path):
    out = tmp_path / "release_ckpt"
    assert change_mp.main([str(runs / "dp_zero2"), "--from-zero", "--out", str(out)]) == 0
    location = locate_checkpoint(out)
    assert (location.tag, location.num_shards) == ("release", 1)
    assert (out / "latest").read_text() == "release"
    model = GLMModel(GLMConfig(**CONFIG), seed=None)
    assert load_model_checkpoint(model, out)["iteration"] == 7
    for key, value in model.state_dict().items():
        assert torch.equal(value, live[0]["dp2"][key]), key

    half = tmp_path / "half_mp2"
    argv = [str(runs / "dp_zero3"), "2", "--from-zero", "--dtype", "fp16", "--out", str(half)]
    assert change_mp.main(argv) == 0
    shard = torch.load(half / "release" / "mp_rank_01_model_states.pt", weights_only=True)
    assert shard["module"]["word_embeddings.weight"].dtype == torch.float16
    assert shard["module"]["word_embeddings.weight"].shape == (128, 32)
    with pytest.raises(CheckpointError, match="ZeRO-3 checkpoint .* --from-zero"):
        reshard_folder(runs / "dp_zero3", 1, out=tmp_path / "o")


@pytest.mark.slow
def test_zero2_and_zero3_checkpoints_consolidate_to_the_live_weights(tmp_path):
    """One two-process run (DeepSpeed start-up is the cost) feeds every check."""
    runs = tmp_path / "runs"
    live = run_distributed(_zero_worker, 2, tmp_path, runs)
    _check_data_parallel(runs, live)
    _check_best_model(runs, live)
    _check_tensor_parallel(runs, live)
    _check_cli(runs, live, tmp_path)


def test_plain_checkpoint_is_not_taken_for_zero(reference_dir):
    with pytest.raises(CheckpointError, match="not a ZeRO checkpoint"):
        consolidate_zero_checkpoint(reference_dir / "checkpoints" / "glm-tiny-gpt2")
