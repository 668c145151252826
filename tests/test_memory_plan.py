"""The memory planner against the code it models: parameter shapes against the model built on
the meta device for every shipped config (at its own tensor-parallel size, and at 2 and 4 where
they divide), vocabulary sizes against the real tokenizers, per-layer activations against the
tensors autograd saves, the KV cache against the model's, and the command line.
(tests/test_memory_measured.py checks whole runs against their measured peak memory.)"""

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch

import mpu.layers
from data_utils.tokenization import build_tokenizer, train_byte_bpe
from model import GLMConfig, GLMModel
from model.attention import normalize_attention_mask
from model.transformer import TransformerLayer
from mpu import parallel_state
from scripts.estimate_memory import build_parser, config_flags, main, parse_config, plan_inputs
from tests.distributed import run_distributed
from training.memory_activations import ActivationSetup, layer_activation_bytes
from training.memory_inference import InferenceSetup, estimate_inference, kv_cache_bytes
from training.memory_plan import TrainingSetup, estimate_training
from training.memory_shapes import parameter_count, parameter_shapes

REPO = Path(__file__).resolve().parents[1]
CONFIGS = sorted(REPO.glob("config/ds_block_*.sh")) + sorted(REPO.glob("config_tasks/model_*.sh"))


@pytest.fixture
def tensor_parallel(monkeypatch):
    """Build one rank of a ``p``-way tensor-parallel model without processes: the layers only
    ask the parallel state for the size and the rank."""

    def set_size(size: int) -> None:
        monkeypatch.setattr(parallel_state, "_MODEL_PARALLEL_GROUP", object() if size > 1 else None)
        monkeypatch.setattr(parallel_state, "_MODEL_PARALLEL_SIZE", size)
        monkeypatch.setattr(mpu.layers, "get_model_parallel_rank", lambda: 0)

    return set_size


@pytest.fixture(scope="module")
def byte_bpe_folder(tmp_path_factory) -> Path:
    """A trained byte-level BPE for the configs that use one (config/ds_block_tiny_cpu.sh)."""
    folder = tmp_path_factory.mktemp("byte_bpe")
    lines = [f"sample {i} of a small corpus, with words and numbers {i * 7}." for i in range(300)]
    train_byte_bpe(iter(lines), 400, folder)
    return folder


def _plan(path: Path, *options: str):
    parsed = build_parser().parse_args([str(path), *options])
    args = parse_config(config_flags(path, parsed.mp))
    return args, *plan_inputs(parsed, args)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.name)
def test_parameter_shapes_match_the_model_for_every_config(
    path, tensor_parallel, vocab_dir, byte_bpe_folder, monkeypatch
):
    monkeypatch.setenv("GLM_TOKENIZER_PATH", str(byte_bpe_folder))
    args, config, setup, num_tokens = _plan(path)
    folder = byte_bpe_folder if args.tokenizer.tokenizer_type == "ByteBPETokenizer" else vocab_dir
    tokenizer = build_tokenizer(replace(args.tokenizer_config(), tokenizer_path=str(folder)))
    assert (num_tokens, config.vocab_size) == (tokenizer.num_tokens, tokenizer.vocab_size)
    sizes = [setup.tp] + [p for p in (2, 4) if p != setup.tp]
    for tp in sizes:
        if config.num_attention_heads % tp or config.vocab_size % tp:
            continue
        tensor_parallel(tp)
        with torch.device("meta"):
            model = GLMModel(config, seed=None)
        built = {name: tuple(p.shape) for name, p in model.named_parameters()}
        assert built == parameter_shapes(config, tp), (path.name, tp)
        assert sum(p.numel() for p in model.parameters()) == parameter_count(config, tp)


def test_the_10b_configs_split_four_ways(tensor_parallel):
    """GLM-10B at MP 4: a quarter of every split matrix, 2.48 G parameters per rank."""
    _, config, setup, _ = _plan(REPO / "config/ds_block_10B.sh", "--mp", "4")
    assert setup.tp == 4 and parameter_count(config) == 9_880_682_496  # spec §4: 9880.68 M
    assert parameter_count(config, 4) == 2_477_359_104
    _, config, _, _ = _plan(REPO / "config_tasks/model_blocklm_10B.sh", "--mp", "4")
    assert parameter_count(config, 4) == 2_477_359_104


def _saved_bytes(module, *inputs) -> int:
    """Bytes of the distinct storages autograd saves, parameters excluded (the input counts: a
    layer keeps its input for its first LayerNorm)."""
    skip = {p.untyped_storage().data_ptr() for p in module.parameters()}
    saved = {}

    def pack(tensor):
        storage = tensor.untyped_storage()
        if storage.data_ptr() not in skip:
            saved[storage.data_ptr()] = storage.nbytes()
        return tensor

    with torch.autograd.graph.saved_tensors_hooks(pack, lambda tensor: tensor):
        module(*inputs)
    return sum(saved.values())


@pytest.mark.parametrize("dtype", [torch.float32, torch.bfloat16], ids=str)
@pytest.mark.parametrize(
    ("hidden_dropout", "attention_dropout"), [(0.0, 0.0), (0.1, 0.0), (0.1, 0.1)]
)
def test_layer_activations_are_what_autograd_saves(dtype, hidden_dropout, attention_dropout):
    config = GLMConfig(
        num_layers=1,
        hidden_size=256,
        num_attention_heads=4,
        vocab_size=512,
        max_sequence_length=64,
        attention_dropout_prob=attention_dropout,
        output_dropout_prob=hidden_dropout,
    )
    layer = TransformerLayer(config, 0).to(dtype)
    for param in layer.parameters():
        torch.nn.init.normal_(param, std=0.02)
    batch, length = 3, 40
    hidden = torch.randn(batch, length, 256, dtype=dtype, requires_grad=True)
    mask = normalize_attention_mask(torch.tensor(17), batch, length, 0, None)
    run = ActivationSetup(batch, length, 1, dtype.itemsize, on_cpu=True)
    assert _saved_bytes(layer, hidden, mask) == layer_activation_bytes(config, run)


def test_kv_cache_is_what_the_model_allocates(tensor_parallel):
    config = GLMConfig(num_layers=3, hidden_size=128, num_attention_heads=8, vocab_size=256)
    for tp in (1, 2):
        tensor_parallel(tp)
        with torch.device("meta"):
            model = GLMModel(config, seed=None).to(torch.bfloat16)
        cache = model.make_kv_cache(batch_size=6, max_length=50)
        allocated = sum(t.nbytes for t in cache.keys + cache.values)
        setup = InferenceSetup(tp, "bf16", batch=3, context_length=30, generated=20, num_beams=2)
        assert kv_cache_bytes(config, setup) == allocated
        estimate = estimate_inference(config, setup)
        assert estimate.term("KV cache") == allocated
        assert estimate.peak_device >= estimate.term("weights") + 2 * allocated  # beam reorder


def _estimate(config: GLMConfig, **setup) -> object:
    run = TrainingSetup(micro_batch=2, seq_length=64, **setup)
    return estimate_training(config, run, checkpoint=False)


def test_zero_partitions_what_deepspeed_partitions():
    config = GLMConfig(num_layers=4, hidden_size=256, num_attention_heads=8, vocab_size=1024)
    count = parameter_count(config)
    stage0 = _estimate(config, dp=4, precision="bf16", zero_stage=0)
    assert stage0.term("fp32 master weights") == 4 * count
    assert stage0.term("Adam moments") == 8 * count
    assert _estimate(config, precision="fp32", zero_stage=0).term("fp32 master weights") == 0
    for stage in (1, 2, 3):
        estimate = _estimate(config, dp=4, precision="bf16", zero_stage=stage)
        assert estimate.term("fp32 master weights") == count  # 4 bytes x count / 4 ranks
        assert estimate.term("Adam moments") == 2 * count
    stage2 = _estimate(config, dp=4, precision="bf16", zero_stage=2)
    stage3 = _estimate(config, dp=4, precision="bf16", zero_stage=3)
    assert stage3.term("parameters") < stage2.term("parameters") == 2 * count
    offloaded = _estimate(config, dp=4, precision="bf16", zero_stage=2, cpu_offload=True)
    on_host = {t.name for t in offloaded.terms if t.host}
    assert {"fp32 master weights", "Adam moments"} <= on_host
    assert offloaded.peak_host > 0 and offloaded.peak_device < stage2.peak_device


def test_command_line_report(capsys):
    config = str(REPO / "config/ds_block_10B.sh")
    assert main([config, "--mp", "4", "--dp", "2", "--zero-stage", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["parameters_per_rank"] == 2_477_359_104
    # the rest from the config and its DeepSpeed JSON: fp16, micro-batch 21, checkpointing
    setup = report["setup"]
    assert (setup["zero_stage"], setup["precision"], setup["micro_batch"]) == (3, "fp16", 21)
    assert report["model"]["checkpoint_activations"] and setup["zero"]["reduce_bucket_size"] == 5e7
    peaks = {(r["zero_stage"], r["cpu_offload"]): r for r in report["zero_table"]}
    order = [peaks[key]["peak_checkpointed"] for key in [(3, True), (3, False), (0, False)]]
    assert order == sorted(order)
    assert all(r["peak_all_activations"] > r["peak_checkpointed"] for r in peaks.values())
    assert main([config, "--mp", "4", "--dp", "2"]) == 0
    text = capsys.readouterr().out
    assert "peak per GPU" in text and "ZeRO-3 + CPU offload" in text


def test_command_line_inference(capsys):
    path = REPO / "config_tasks/model_blocklm_10B.sh"
    argv = ["--mp", "4", "--bf16", "--micro-batch", "2", "--seq-length", "600"]
    assert main([str(path), *argv, "--inference", "--num-beams", "3", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    _, config, _, _ = _plan(path, *argv)
    setup = InferenceSetup(4, "bf16", batch=2, context_length=600, generated=256, num_beams=3)
    terms = {t["name"]: t["bytes"] for t in report["estimate"]["terms"]}
    assert terms["KV cache"] == kv_cache_bytes(config, setup)
    assert terms["weights"] == 2 * 2_477_359_104


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["config/ds_block_missing.sh"], "not found"),
        (["config_tasks/task_rte.sh"], "sets neither gpt_options nor MODEL_ARGS"),
        (["config/ds_block_10B.sh", "--mp", "3"], "not divisible by --model-parallel-size 3"),
        (["config/ds_block_large.sh", "--seq-length", "4096"], "exceeds"),
        (["config/ds_block_large.sh", "--cpu"], "--fp16 needs a GPU"),
        (["config/ds_block_tiny_cpu.sh"], "--text-vocab-size"),
    ],
)
def test_bad_input_is_one_line(argv, message, capsys, monkeypatch):
    monkeypatch.delenv("GLM_TOKENIZER_PATH", raising=False)
    with pytest.raises(SystemExit) as exit_info:
        main([str(REPO / argv[0]), *argv[1:]])
    assert exit_info.value.code == 2
    error = capsys.readouterr().err.strip().splitlines()
    assert len(error) == 1 and error[0].startswith("estimate_memory.py: error:")
    assert message in error[0]


def _tensor_parallel_layer_bytes(rank: int, world: int) -> tuple[int, int]:
    """(saved, planned) activation bytes of one layer on a rank of a 2-way TP group."""
    from mpu import initialize_distributed

    initialize_distributed(world)
    config = GLMConfig(
        num_layers=1, hidden_size=256, num_attention_heads=4, vocab_size=512,
        attention_dropout_prob=0.0, output_dropout_prob=0.1,
    )  # fmt: skip
    layer = TransformerLayer(config, 0).to(torch.bfloat16)
    for param in layer.parameters():
        torch.nn.init.normal_(param, std=0.02)
    hidden = torch.randn(2, 24, 256, dtype=torch.bfloat16, requires_grad=True)
    mask = normalize_attention_mask(torch.tensor(9), 2, 24, 0, None)
    saved = _saved_bytes(layer, hidden, mask)
    parallel_state.destroy_model_parallel()
    return saved, layer_activation_bytes(config, ActivationSetup(2, 24, world, 2, on_cpu=True))


@pytest.mark.slow
def test_tensor_parallel_layer_activations_are_what_autograd_saves(tmp_path):
    for saved, planned in run_distributed(_tensor_parallel_layer_bytes, 2, tmp_path):
        assert saved == planned
