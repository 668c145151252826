"""Flag parsing: typed sections, one-line errors naming flags, DeepSpeed JSON reconciliation."""

import json

import pytest

from training.arguments import parse_args


def _error(capsys, argv):
    with pytest.raises(SystemExit) as exit_info:
        parse_args(argv)
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    return lines[-1]


def test_sections_carry_the_original_flags():
    args = parse_args(
        [
            "--block-lm",
            "--task-mask",
            "--num-layers",
            "2",
            "--hidden-size",
            "64",
            "--num-attention-heads",
            "4",
            "--bert-prob",
            "0.5",
            "--gap-sentence-prob",
            "0.3",
            "--no-shuffle-block",
            "--block-mask-prob",
            "0.1",
            "--seq-length",
            "256",
            "--max-position-embeddings",
            "1024",
        ]
    )
    config = args.model_config(50304)
    assert (config.num_layers, config.hidden_size, config.max_sequence_length) == (2, 64, 1024)
    assert config.block_position_encoding
    masking, tokenizer = args.masking_config(), args.tokenizer_config()
    assert masking.shuffle_blocks is False and masking.max_seq_length == 256
    assert masking.gpt_prob == pytest.approx(0.2)
    assert tokenizer.task_mask and tokenizer.block_mask
    assert args.train.eval_batch_size == args.train.batch_size == 4


def test_masked_lm_has_one_dimensional_positions():
    args = parse_args(["--block-lm", "--masked-lm", "--bert-prob", "1"])
    assert not args.model_config(30592).block_position_encoding


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (
            ["--num-attention-heads", "12", "--model-parallel-size", "5"],
            "--num-attention-heads 12 is not divisible by --model-parallel-size 5",
        ),
        (
            ["--hidden-size", "100", "--num-attention-heads", "16"],
            "--hidden-size 100 is not divisible",
        ),
        (["--fp16", "--bf16"], "--fp16 and --bf16 are exclusive"),
        (
            ["--block-lm", "--seq-length", "1024"],
            "--seq-length 1024 exceeds --max-position-embeddings 512",
        ),
        (["--bert-prob", "0.8", "--gap-sentence-prob", "0.5"], "--bert-prob + --gap-sentence-prob"),
        (["--transformer-xl"], "--transformer-xl is not supported"),
        (["--position-encoding", "alibi"], "invalid choice: 'alibi'"),
        (
            [
                "--block-lm",
                "--position-encoding",
                "rotary",
                "--hidden-size",
                "24",
                "--num-attention-heads",
                "4",
            ],
            "--position-encoding rotary needs a head size",
        ),
        (["--top-p", "1.5"], "--top-p must be in [0, 1]"),
        (["--warmup", "2"], "--warmup is a fraction"),
    ],
)
def test_invalid_values_are_one_line_errors(capsys, argv, message):
    assert message in _error(capsys, argv)


def test_unknown_flag_is_rejected(capsys):
    assert "unrecognized arguments: --lazy-loader" in _error(capsys, ["--lazy-loader"])


def _write_json(tmp_path, **config):
    path = tmp_path / "ds.json"
    path.write_text(json.dumps(config))
    return str(path)


def test_deepspeed_json_fills_unset_flags(tmp_path):
    path = _write_json(
        tmp_path,
        train_micro_batch_size_per_gpu=16,
        gradient_accumulation_steps=2,
        optimizer={
            "type": "Adam",
            "params": {"lr": 2e-4, "weight_decay": 0.1, "betas": [0.9, 0.98], "eps": 1e-6},
        },
        gradient_clipping=1.0,
        fp16={"enabled": True},
        zero_optimization={"stage": 2},
    )
    args = parse_args(["--deepspeed", "--deepspeed_config", path])
    assert (args.train.batch_size, args.train.gradient_accumulation_steps) == (16, 2)
    assert (args.optim.lr, args.optim.weight_decay, args.optim.adam_beta2) == (2e-4, 0.1, 0.98)
    assert args.optim.fp16 and args.parallel.zero_stage == 2


@pytest.mark.parametrize(
    ("flag", "json_config", "message"),
    [
        (
            ["--batch-size", "8"],
            {"train_micro_batch_size_per_gpu": 16},
            "--batch-size 8 conflicts with train_micro_batch_size_per_gpu = 16",
        ),
        (
            ["--lr", "1e-3"],
            {"optimizer": {"params": {"lr": 2e-4}}},
            "--lr 0.001 conflicts with optimizer.params.lr = 0.0002",
        ),
        (
            ["--weight-decay", "0.01"],
            {"optimizer": {"params": {"weight_decay": 0.1}}},
            "--weight-decay 0.01 conflicts",
        ),
        (
            ["--bf16"],
            {"bf16": {"enabled": False}},
            "--bf16 True conflicts with bf16.enabled = False",
        ),
        (
            ["--clip-grad", "0.5"],
            {"gradient_clipping": 1.0},
            "--clip-grad 0.5 conflicts with gradient_clipping",
        ),
    ],
)
def test_deepspeed_json_conflicts_name_both(capsys, tmp_path, flag, json_config, message):
    path = _write_json(tmp_path, **json_config)
    line = _error(capsys, [*flag, "--deepspeed_config", path])
    assert message in line and "ds.json" in line


def test_agreeing_json_and_flag_are_fine(tmp_path):
    path = _write_json(tmp_path, optimizer={"params": {"lr": 2e-4}})
    assert parse_args(["--lr", "2e-4", "--deepspeed_config", path]).optim.lr == 2e-4


def test_missing_json_is_named(capsys, tmp_path):
    assert "--deepspeed_config" in _error(capsys, ["--deepspeed_config", str(tmp_path / "x.json")])


def test_resolved_config_is_json_serialisable():
    json.dumps(parse_args(["--block-lm"]).to_dict())
