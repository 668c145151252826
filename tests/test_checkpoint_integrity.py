"""Damaged or mismatched checkpoints end in one line naming the file or flag, and change nothing.

Each case drives an entry point (change_mp.py, generate_samples.py, the Hugging Face converters)
on a copy of a tiny fixture checkpoint, damaged one way: a missing, corrupted or truncated
shard, NaN weights, flags that do not fit, the wrong model-parallel size, a ZeRO-3 folder. Each
must exit with status 2, print one line (no traceback) naming the problem, write no output and
leave its inputs byte-identical. Checkpoints we write carry a manifest (model-parallel size, a
SHA-256 per shard); original GLM checkpoints have none and are checked by their shapes.
"""

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import torch

import change_mp
import generate_samples
from checkpoint_io import MANIFEST, CheckpointError, load_model_checkpoint, locate_checkpoint
from interop.reshard import reshard_folder
from interop.zero import consolidate_zero_folder
from model import GLMModel
from scripts import convert_glm_checkpoint_to_transformers as export_script
from tests.reference import tiny_config
from tests.test_generate_samples import cli

SHARD = "mp_rank_{:02d}_model_states.pt"


def _digest(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def _copy(reference_dir: Path, name: str, tmp_path: Path) -> Path:
    return Path(shutil.copytree(reference_dir / "checkpoints" / name, tmp_path / name))


@pytest.fixture
def original_mp2(tmp_path, reference_dir):
    """An original GLM checkpoint at MP=2 (no manifest)."""
    return _copy(reference_dir, "glm-tiny-gpt2_MP2", tmp_path)


@pytest.fixture
def ours_mp2(tmp_path, reference_dir):
    """The same checkpoint written by change_mp.py: with a manifest."""
    return reshard_folder(reference_dir / "checkpoints" / "glm-tiny-gpt2", 2, tmp_path / "ours").out


def _bad_input(capsys, run, inputs: list[Path], outputs: list[Path] = ()) -> str:
    """Run ``run``; it must exit 2 with one line, inputs unchanged, no output written."""
    before = {str(p): _digest(p) for p in inputs}
    with pytest.raises(SystemExit) as exit_info:
        run()
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "Traceback" not in err[0], err
    assert {str(p): _digest(p) for p in inputs} == before
    for out in outputs:
        assert not out.exists()
        assert not list(out.parent.glob(f".{out.name}.tmp-*")), "temporary folder left behind"
    return err[0]


def _reshard(source: Path, target: int, out: Path, *flags: str):
    return lambda: change_mp.main([str(source), str(target), "--out", str(out), *flags])


def _overwrite_middle(path: Path, data: bytes) -> None:
    raw = bytearray(path.read_bytes())
    middle = len(raw) // 2
    raw[middle : middle + len(data)] = data
    path.write_bytes(bytes(raw))


def _generate(args: list[str], tmp_path: Path):
    (tmp_path / "in.txt").write_text("The [MASK] is here.\n")
    argv = [*args, "--input-file", str(tmp_path / "in.txt")]
    return lambda: generate_samples.main([*argv, "--output-file", str(tmp_path / "o.jsonl")])


def test_missing_shard_without_manifest_is_named_not_taken_for_mp1(capsys, tmp_path, original_mp2):
    (original_mp2 / "1000" / SHARD.format(1)).unlink()
    out = tmp_path / "out"
    line = _bad_input(capsys, _reshard(original_mp2, 1, out), [original_mp2], [out])
    assert "mp_rank_01_model_states.pt missing" in line and "model-parallel size 2" in line


def test_missing_shard_in_generation_is_named_not_blamed_on_the_tokenizer(
    capsys, tmp_path, original_mp2, reference_dir, vocab_dir
):
    (original_mp2 / "1000" / SHARD.format(1)).unlink()
    args = [*cli(reference_dir, vocab_dir)[:-1], str(original_mp2)]
    line = _bad_input(capsys, _generate(args, tmp_path), [original_mp2])
    assert "mp_rank_01_model_states.pt missing" in line and "tokenizer" not in line


def test_missing_shard_with_manifest(capsys, tmp_path, ours_mp2):
    (ours_mp2 / "1000" / SHARD.format(1)).unlink()
    out = tmp_path / "out"
    line = _bad_input(capsys, _reshard(ours_mp2, 1, out), [ours_mp2], [out])
    assert f"lacks shard {SHARD.format(1)}" in line and MANIFEST in line


def test_corrupted_shard_with_manifest_fails_its_checksum(capsys, tmp_path, ours_mp2):
    _overwrite_middle(ours_mp2 / "1000" / SHARD.format(0), bytes(4096))  # zeros: finite values
    out = tmp_path / "out"
    line = _bad_input(capsys, _reshard(ours_mp2, 1, out), [ours_mp2], [out])
    assert "does not match the SHA-256" in line and SHARD.format(0) in line


def test_no_verify_skips_the_checksum_but_not_the_sizes(tmp_path, ours_mp2):
    _overwrite_middle(ours_mp2 / "1000" / SHARD.format(0), bytes(4096))
    out = tmp_path / "out"
    assert change_mp.main([str(ours_mp2), "1", "--out", str(out), "--no-verify-checkpoint"]) == 0
    (ours_mp2 / "1000" / SHARD.format(1)).write_bytes(b"short")
    with pytest.raises(CheckpointError, match="truncated or was changed"):
        reshard_folder(ours_mp2, 1, tmp_path / "again", verify=False)


def test_corrupted_shard_without_manifest_is_caught_by_the_nan_check(
    capsys, tmp_path, reference_dir
):
    """Random bytes over 4 KB of fp32 weights make some NaN/Inf (a fixed draw here); bytes
    that decode as finite values (zeros, say) are caught only with a manifest."""
    source = _copy(reference_dir, "glm-tiny-gpt2", tmp_path)
    noise = torch.randint(0, 256, (4096,), generator=torch.Generator().manual_seed(0))
    _overwrite_middle(source / "1000" / SHARD.format(0), bytes(noise.to(torch.uint8).tolist()))
    out = tmp_path / "out"
    line = _bad_input(capsys, _reshard(source, 2, out), [source], [out])
    assert "word_embeddings.weight holds NaN or Inf" in line


@pytest.mark.parametrize("manifest", [True, False], ids=["manifest", "original"])
def test_truncated_shard(capsys, tmp_path, ours_mp2, original_mp2, manifest):
    source = ours_mp2 if manifest else original_mp2
    shard = source / "1000" / SHARD.format(1)
    shard.write_bytes(shard.read_bytes()[: shard.stat().st_size // 2])
    out = tmp_path / "out"
    line = _bad_input(capsys, _reshard(source, 1, out), [source], [out])
    assert SHARD.format(1) in line
    assert ("truncated or was changed" if manifest else "truncated or corrupt") in line


def test_nan_weights_are_named_in_generation_and_export(capsys, tmp_path, reference_dir, vocab_dir):
    source = _copy(reference_dir, "glm-tiny-gpt2", tmp_path)
    shard = source / "1000" / SHARD.format(0)
    checkpoint = torch.load(shard, weights_only=True)
    checkpoint["module"]["transformer.layers.1.mlp.dense_4h_to_h.weight"][3, 5] = float("nan")
    torch.save(checkpoint, shard)
    args = [*cli(reference_dir, vocab_dir)[:-1], str(source)]
    line = _bad_input(capsys, _generate(args, tmp_path), [source])
    assert "transformer.layers.1.mlp.dense_4h_to_h.weight holds NaN or Inf" in line
    out = tmp_path / "hf"
    argv = [str(source), "--num-attention-heads", "4", "--tokenizer-type", "GPT2BPETokenizer"]
    argv += ["--task-mask", "--tokenizer-path", str(vocab_dir), "--out", str(out)]
    line = _bad_input(capsys, lambda: export_script.main(argv), [source], [out])
    assert "dense_4h_to_h.weight holds NaN or Inf" in line


def test_hidden_size_that_does_not_fit_names_the_flag(capsys, tmp_path, reference_dir, vocab_dir):
    args = [a.replace("64", "32") if a == "64" else a for a in cli(reference_dir, vocab_dir)]
    line = _bad_input(capsys, _generate(args, tmp_path), [])
    assert "hidden size 64 but the model has 32: check --hidden-size" in line


def test_heads_recorded_in_the_manifest_are_checked(capsys, tmp_path, reference_dir, vocab_dir):
    source = reshard_folder(
        reference_dir / "checkpoints" / "glm-tiny-gpt2", 1, tmp_path / "ck", num_attention_heads=4
    ).out
    assert json.loads((source / "1000" / MANIFEST).read_text())["num_attention_heads"] == 4
    args = cli(reference_dir, vocab_dir)[:-1] + [str(source)]
    args[args.index("--num-attention-heads") + 1] = "8"
    line = _bad_input(capsys, _generate(args, tmp_path), [source])
    assert "saved with 4 attention heads but the model has 8: check --num-attention-heads" in line


def test_wrong_model_parallel_size_at_load(ours_mp2):
    model = GLMModel(tiny_config("gpt2"), seed=None)
    with pytest.raises(CheckpointError, match="saved at model-parallel size 2 but this run uses 1"):
        load_model_checkpoint(model, ours_mp2)


def test_zero3_folder_where_a_plain_checkpoint_is_expected(
    capsys, tmp_path, reference_dir, vocab_dir
):
    run = tmp_path / "run"
    (run / "global_step5").mkdir(parents=True)
    (run / "latest").write_text("global_step5")
    for name in (
        "zero_pp_rank_0_mp_rank_00_model_states.pt",
        "bf16_zero_pp_rank_0_mp_rank_00_optim_states.pt",
    ):
        torch.save({"module": {}}, run / "global_step5" / name)
    out = tmp_path / "out"
    line = _bad_input(capsys, _reshard(run, 1, out), [run], [out])
    assert "ZeRO-3 checkpoint" in line and "change_mp.py --from-zero" in line
    args = [*cli(reference_dir, vocab_dir)[:-1], str(run)]
    line = _bad_input(capsys, _generate(args, tmp_path), [run])
    assert "change_mp.py --from-zero" in line


class _Executable:
    """Stands for an object a pickle would build by running code."""

    def __reduce__(self):
        return (shutil.rmtree, ("/nonexistent-glm-test-path",))


def test_zero_consolidation_refuses_files_that_are_not_only_weights(tmp_path):
    tag_dir = tmp_path / "run" / "global_step1"
    tag_dir.mkdir(parents=True)
    (tmp_path / "run" / "latest").write_text("global_step1")
    payload = {"module": {}, "buffer_names": [], "param_shapes": [], "hook": _Executable()}
    torch.save(payload, tag_dir / "mp_rank_00_model_states.pt")
    torch.save({"optimizer_state_dict": {}}, tag_dir / "zero_pp_rank_0_mp_rank_00_optim_states.pt")
    with pytest.raises(CheckpointError, match="not only weights"):
        consolidate_zero_folder(tmp_path / "run", out=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_earlier_output_is_never_overwritten(capsys, tmp_path, reference_dir):
    source = reference_dir / "checkpoints" / "glm-tiny-gpt2"
    out = reshard_folder(source, 2, tmp_path / "out").out
    line = _bad_input(capsys, _reshard(source, 2, out), [out])
    assert "already exists" in line


def test_manifest_records_size_and_checksum_of_every_shard(ours_mp2):
    manifest = json.loads((ours_mp2 / "1000" / MANIFEST).read_text())
    assert manifest["model_parallel_size"] == 2 == locate_checkpoint(ours_mp2).num_shards
    for name, entry in manifest["shards"].items():
        data = (ours_mp2 / "1000" / name).read_bytes()
        assert entry == {"bytes": len(data), "sha256": hashlib.sha256(data).hexdigest()}


def test_legacy_format_checkpoints_are_read_whole(tmp_path, reference_dir):
    """torch's pre-1.6 (non-zip) format cannot be memory-mapped: it is read whole, still
    weights-only, and reshards like any other."""
    source = _copy(reference_dir, "glm-tiny-gpt2", tmp_path)
    shard = source / "1000" / SHARD.format(0)
    checkpoint = torch.load(shard, weights_only=True)
    torch.save(checkpoint, shard, _use_new_zipfile_serialization=False)
    out = reshard_folder(source, 2, tmp_path / "out").out
    expected = reshard_folder(reference_dir / "checkpoints" / "glm-tiny-gpt2", 2, tmp_path / "e")
    for rank in range(2):
        ours = torch.load(out / "1000" / SHARD.format(rank), weights_only=True)["module"]
        theirs = torch.load(expected.out / "1000" / SHARD.format(rank), weights_only=True)
        assert all(torch.equal(ours[k], v) for k, v in theirs["module"].items())
