"""Plan the memory of a GLM run per GPU before launching it.

Usage:
    python scripts/estimate_memory.py CONFIG [--mp N] [--dp N] [--zero-stage S]
        [--micro-batch B] [--seq-length T] [--cpu-offload] [--checkpoint-activations]
        [--bf16 | --fp16 | --fp32] [--inference] [--json]

CONFIG is a config/ds_block_*.sh or config_tasks/model_*.sh file: bash sources it the way the
launchers do and its flags (gpt_options or MODEL_ARGS, with the DeepSpeed JSON they name) give
the model and the defaults of every option: tensor-parallel size, ZeRO stage, precision,
micro-batch, sequence length, activation checkpointing. The data-parallel size defaults to 1.

Training prints the parameters, gradients, optimizer states, activations and the peak of the
chosen setting, then the peak for every ZeRO stage with and without CPU offload and with and
without activation checkpointing. --inference prints the weights, the KV cache for --micro-batch
contexts of --seq-length tokens (plus --out-seq-length generated, --num-beams beams) and the
working set. docs/memory.md says what each term counts and how the planner was checked.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import subprocess
import sys
from dataclasses import asdict, replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from common.errors import exit_on_bad_input  # noqa: E402
from data_utils.tokenization.sizes import vocab_sizes  # noqa: E402
from training.arguments import parse_args as parse_glm_flags  # noqa: E402
from training.memory_inference import InferenceSetup, estimate_inference  # noqa: E402
from training.memory_plan import (  # noqa: E402
    Estimate,
    TrainingSetup,
    ZeroSettings,
    estimate_training,
)
from training.memory_shapes import parameter_count  # noqa: E402

PROG = "estimate_memory.py"
# bash splits the flag variables as the launchers' unquoted $gpt_options does (no globbing)
_SOURCE = 'set -f; source "$1" >/dev/null; for w in ${gpt_options:-} ${MODEL_ARGS:-}; do '
_SOURCE += 'printf "%s\\0" "$w"; done'


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__.split("\n\n")[0],
        epilog=__doc__.split("\n\n", 1)[1],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    add = parser.add_argument
    add("config", type=Path, help="config/ds_block_*.sh or config_tasks/model_*.sh")
    add("--mp", type=int, help="tensor-parallel size (default: the config's)")
    add("--dp", type=int, default=1, help="data-parallel size (default 1)")
    add("--zero-stage", type=int, choices=(0, 1, 2, 3), help="default: the config's")
    add("--micro-batch", type=int, help="samples per GPU (default: the config's --batch-size)")
    add("--seq-length", type=int, help="tokens per sample, or the context (default: config)")
    add("--cpu-offload", action=argparse.BooleanOptionalAction, help="ZeRO optimizer offload")
    add("--checkpoint-activations", action=argparse.BooleanOptionalAction)
    precision = parser.add_mutually_exclusive_group()
    for name in ("bf16", "fp16", "fp32"):
        precision.add_argument(f"--{name}", dest="precision", action="store_const", const=name)
    add("--inference", action="store_true", help="generation: weights and KV cache")
    add("--out-seq-length", type=int, help="generated tokens (default: the config's)")
    add("--num-beams", type=int, help="beam size (default: the config's)")
    add(
        "--scored-fraction",
        type=float,
        default=1.0,
        help="share of positions whose logits are computed (default 1, an upper bound; "
        "about 0.18 with BERT-style span masking alone)",
    )
    add("--text-vocab-size", type=int, help="text tokens of a trained ByteBPE vocabulary")
    add("--cpu", action="store_true", help="a CPU run: everything in each process's RAM")
    add("--json", action="store_true", help="print JSON instead of tables")
    return parser


def config_flags(path: Path, mp: int | None) -> list[str]:
    """The flags a config file sets, as bash expands them for the launchers."""
    if not path.is_file():
        raise FileNotFoundError(
            f"config file {path} not found: give config/ds_block_*.sh or config_tasks/model_*.sh"
        )
    env = dict(os.environ)
    env.setdefault("CHECKPOINT_PATH", "checkpoints")
    if mp is not None:
        env["MP_SIZE"] = str(mp)
    done = subprocess.run(
        ["bash", "-c", _SOURCE, PROG, str(path)], capture_output=True, text=True, env=env
    )
    if done.returncode:
        raise ValueError(f"bash could not source {path}: {done.stderr.strip()[-300:]}")
    words = [word for word in done.stdout.split("\0") if word]
    if not words:
        raise ValueError(
            f"{path} sets neither gpt_options nor MODEL_ARGS: give a "
            "config/ds_block_*.sh or config_tasks/model_*.sh file"
        )
    return words


def parse_config(words: list[str]):
    """The config's flags parsed by the flag table, without the compatibility warnings (they
    concern running, not planning); a flag error becomes one ValueError line."""
    captured = io.StringIO()
    try:
        with contextlib.redirect_stderr(captured):
            return parse_glm_flags(words, description=PROG)
    except SystemExit:
        lines = [line for line in captured.getvalue().splitlines() if "error:" in line]
        message = lines[-1].split("error:", 1)[1].strip() if lines else captured.getvalue()
        raise ValueError(f"the config's flags: {message}") from None


def _precision(args) -> str:
    return "fp16" if args.optim.fp16 else "bf16" if args.optim.bf16 else "fp32"


def _check(options: argparse.Namespace, setup: TrainingSetup, config) -> None:
    for name in ("mp", "dp", "micro_batch", "seq_length", "num_beams"):
        value = getattr(options, name)
        if value is not None and value < 1:
            raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {value}")
    if not 0 < setup.scored_fraction <= 1:
        raise ValueError(f"--scored-fraction must be in (0, 1], got {setup.scored_fraction}")
    if setup.seq_length > config.max_sequence_length:
        raise ValueError(
            f"--seq-length {setup.seq_length} exceeds the model's "
            f"--max-position-embeddings {config.max_sequence_length}"
        )
    if setup.on_cpu and setup.precision == "fp16":
        raise ValueError("--fp16 needs a GPU (DeepSpeed's loss scaling is CUDA-only): use --bf16")


def plan_inputs(options: argparse.Namespace, args):
    """``(GLMConfig, TrainingSetup, num_tokens)``: the config's values, then the options."""
    num_tokens, vocab = vocab_sizes(args.tokenizer_config(), options.text_vocab_size)
    checkpoint = options.checkpoint_activations
    if checkpoint is None:
        checkpoint = args.model.checkpoint_activations
    config = args.model_config(vocab, checkpoint_activations=checkpoint)
    offload = options.cpu_offload
    if offload is None:
        offload = args.parallel.cpu_offload or args.optim.cpu_optimizer
    setup = TrainingSetup(
        tp=options.mp or args.parallel.model_parallel_size,
        dp=options.dp,
        precision=options.precision or _precision(args),
        zero_stage=args.parallel.zero_stage if options.zero_stage is None else options.zero_stage,
        cpu_offload=offload,
        micro_batch=options.micro_batch or args.train.batch_size,
        seq_length=options.seq_length or args.data.seq_length,
        gradient_accumulation_steps=args.train.gradient_accumulation_steps,
        scored_fraction=options.scored_fraction,
        optimizer=args.optim.optimizer,
        on_cpu=options.cpu,
        zero=ZeroSettings.from_deepspeed_json(args.parallel.deepspeed_json),
    )
    _check(options, setup, config)
    return config, setup, num_tokens


def _gib(size: int) -> str:
    return f"{size / 2**30:9.2f}"


def _model_lines(options, config, setup, num_tokens: int) -> list[str]:
    tables = 2 if config.block_position_encoding else 1
    positions = (
        "rotary positions"
        if config.rotary
        else f"{tables} x {config.position_table_rows} position rows"
    )
    total, local = parameter_count(config), parameter_count(config, setup.tp)
    return [
        f"config     {options.config}",
        f"model      {config.num_layers} layers, hidden {config.hidden_size}, "
        f"{config.num_attention_heads} heads, MLP {config.ffn_size}, vocabulary "
        f"{config.vocab_size} ({num_tokens} tokens), {positions}",
        f"parameters {total:,} in all, {local:,} per tensor-parallel rank",
    ]


def _term_lines(estimate: Estimate, where: str) -> list[str]:
    lines = [f"{'term':34}{'GiB':>9}  note"]
    for term in estimate.terms:
        place = "  (host)" if term.host else ""
        lines.append(f"{term.name + place:34}{_gib(term.bytes)}  {term.note}")
    moment = max(estimate.moments, key=estimate.moments.get)
    when = f"at the {moment}" if len(estimate.moments) > 1 else ""
    lines.append(f"{'peak ' + where:34}{_gib(estimate.peak_device)}  {when}")
    if estimate.peak_host:
        lines.append(f"{'host memory per GPU (offload)':34}{_gib(estimate.peak_host)}")
    if len(estimate.moments) > 1:
        moments = ", ".join(f"{name} {size / 2**30:.2f}" for name, size in estimate.moments.items())
        lines.append(f"moments (GiB): {moments}")
    return lines


def zero_table(config, setup: TrainingSetup) -> list[dict]:
    """The peak for every ZeRO stage, with and without offload and checkpointing."""
    rows = []
    for stage in (0, 1, 2, 3):
        for offload in (False, True):
            if stage == 0 and offload:
                continue  # DeepSpeed offloads only with ZeRO
            varied = replace(setup, zero_stage=stage, cpu_offload=offload)
            with_ckpt = estimate_training(config, varied, checkpoint=True)
            without = estimate_training(config, varied, checkpoint=False)
            rows.append(
                {
                    "zero_stage": stage,
                    "cpu_offload": offload,
                    "peak_checkpointed": with_ckpt.peak_device,
                    "peak_all_activations": without.peak_device,
                    "host_offload": with_ckpt.peak_host,
                }
            )
    return rows


def _setup_line(setup: TrainingSetup, checkpoint: bool) -> str:
    gpus = "GPUs" if not setup.on_cpu else "processes"
    offload = " + CPU offload" if setup.cpu_offload else ""
    chunks = "on" if checkpoint else "off"
    return (
        f"run        TP {setup.tp} x DP {setup.dp} = {setup.tp * setup.dp} {gpus}, ZeRO-"
        f"{setup.zero_stage}{offload}, {setup.precision}, micro-batch {setup.micro_batch} x "
        f"{setup.seq_length} tokens x {setup.gradient_accumulation_steps} accumulation, logits "
        f"at {setup.scored_fraction:.0%} of positions, activation checkpointing {chunks}"
    )


def report_training(options, config, setup: TrainingSetup, num_tokens: int) -> dict | list:
    checkpoint = config.checkpoint_activations
    estimate = estimate_training(config, setup, checkpoint)
    table = zero_table(config, setup)
    if options.json:
        return _json(options, config, setup, num_tokens, estimate, zero_table=table)
    where = "per process" if setup.on_cpu else "per GPU"
    lines = _model_lines(options, config, setup, num_tokens)
    lines += [_setup_line(setup, checkpoint), "", *_term_lines(estimate, where), ""]
    lines.append(f"peak {where} (GiB) by ZeRO stage     checkpointed  all activations  host/GPU")
    for row in table:
        name = f"ZeRO-{row['zero_stage']}" + (" + CPU offload" if row["cpu_offload"] else "")
        lines.append(
            f"  {name:33}{_gib(row['peak_checkpointed'])}     {_gib(row['peak_all_activations'])}"
            f" {_gib(row['host_offload'])}"
        )
    return lines


def report_inference(options, args, config, setup: TrainingSetup, num_tokens: int):
    gen = InferenceSetup(
        tp=setup.tp,
        precision=setup.precision,
        batch=options.micro_batch or 1,
        context_length=setup.seq_length,
        generated=options.out_seq_length or args.generation.out_seq_length,
        num_beams=options.num_beams or args.generation.num_beams,
    )
    estimate = estimate_inference(config, gen)
    if options.json:
        return _json(options, config, setup, num_tokens, estimate, generation=asdict(gen))
    lines = _model_lines(options, config, setup, num_tokens)
    lines.append(
        f"generation TP {gen.tp}, {gen.precision}, {gen.batch} context(s) x {gen.num_beams} "
        f"beam(s), {gen.context_length} context + {gen.generated} generated tokens"
    )
    return [*lines, "", *_term_lines(estimate, "per GPU")]


def _json(options, config, setup, num_tokens: int, estimate: Estimate, **extra) -> dict:
    return {
        "config": str(options.config),
        "model": asdict(config),
        "num_tokens": num_tokens,
        "parameters": parameter_count(config),
        "parameters_per_rank": parameter_count(config, setup.tp),
        "setup": asdict(setup),
        "estimate": estimate.to_dict(),
        **extra,
    }


def main(argv: list[str] | None = None) -> int:
    options = build_parser().parse_args(argv)
    with exit_on_bad_input(PROG):
        args = parse_config(config_flags(options.config, options.mp))
        config, setup, num_tokens = plan_inputs(options, args)
        if options.inference:
            report = report_inference(options, args, config, setup, num_tokens)
        else:
            report = report_training(options, config, setup, num_tokens)
    print(json.dumps(report, indent=1) if options.json else "\n".join(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
