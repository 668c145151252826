"""Evaluate a GLM checkpoint with EleutherAI's lm-evaluation-harness.

    python lm_eval_glm.py run --model glm \\
        --model_args pretrained=CKPT,model_config=config_tasks/model_blocklm_10B.sh \\
        --tasks glm_lambada glm_copa --include_path tasks/lm_eval
    torchrun --nproc-per-node 2 lm_eval_glm.py run --model glm --model_args ...   # MP = 2

Registers the model class ``glm`` (``tasks/lm_eval/adapter.py``), then runs lm-eval's own
command line with the arguments given. ``--model_args``: ``pretrained`` (a checkpoint folder,
required), ``model_config`` (a ``config_tasks/model_*.sh`` whose ``MODEL_ARGS`` give the model
and tokenizer flags), ``glm_flags`` (more GLM flags, e.g. ``--tokenizer-path vocab``),
``tokenizer_path``, ``dtype`` (fp32, bf16, fp16), ``unidirectional``, ``seq_length``,
``overlapping_eval``, ``max_gen_toks``. docs/lm_eval.md has the conventions.
"""

from __future__ import annotations

import shlex
import subprocess
from pathlib import Path

import mpu
from checkpoint_io.inference import inference_dtype, load_inference_model
from common.errors import exit_on_bad_input
from data_utils.tokenization import build_tokenizer
from tasks.lm_eval.adapter import GLMEvalModel, LMEvalConfig
from training.arguments import parse_args

REPO = Path(__file__).resolve().parent


def model_config_flags(descriptor: str) -> list[str]:
    """The ``MODEL_ARGS`` of a ``config_tasks/model_*.sh`` file (sourced by bash)."""
    path = Path(descriptor)
    if not path.is_file():
        raise FileNotFoundError(f"model_config {descriptor} does not exist")
    script = 'source "$1" >/dev/null; printf "%s" "$MODEL_ARGS"'
    result = subprocess.run(
        ["bash", "-c", script, "bash", str(path)],
        capture_output=True,
        text=True,
        env={"CHECKPOINT_PATH": "", "PATH": "/usr/bin:/bin"},
    )
    if result.returncode or not result.stdout.strip():
        raise ValueError(f"model_config {descriptor} sets no MODEL_ARGS: {result.stderr.strip()}")
    return shlex.split(result.stdout)


def _flag(name: str, value) -> list[str]:
    return [] if value is None else [name, str(value)]


def _true(value) -> bool:
    return str(value).lower() in ("1", "true", "yes")


def build(options: dict) -> tuple:
    """(model, tokenizer, LMEvalConfig) from lm-eval's ``--model_args`` (and
    ``--batch_size``)."""
    if not options.get("pretrained"):
        raise ValueError("--model_args needs pretrained=CKPT (a GLM checkpoint folder)")
    flags = model_config_flags(options["model_config"]) if options.get("model_config") else []
    flags += shlex.split(options.get("glm_flags") or "")
    flags += _flag("--tokenizer-path", options.get("tokenizer_path"))
    flags += _flag("--seq-length", options.get("seq_length"))
    flags += _flag("--overlapping-eval", options.get("overlapping_eval"))
    dtype = options.get("dtype") or "fp32"
    flags += {"bf16": ["--bf16"], "fp16": ["--fp16"], "fp32": []}[dtype]
    args = parse_args(flags, "GLM in lm-evaluation-harness")
    parallel = args.parallel
    device = mpu.initialize_distributed(parallel.model_parallel_size, parallel.distributed_backend)
    tokenizer = build_tokenizer(args.tokenizer_config())
    config = args.model_config(tokenizer.vocab_size, parallel_output=True)
    dtype = inference_dtype(args.optim.fp16, args.optim.bf16, device)
    model = load_inference_model(config, options["pretrained"], device, dtype)
    settings = LMEvalConfig(
        batch_size=int(options.get("batch_size") or args.train.eval_batch_size),
        seq_length=args.data.seq_length,
        task_mask=args.tokenizer.task_mask,
        unidirectional=_true(options.get("unidirectional", False)),
        overlapping_eval=args.data.overlapping_eval,
        max_gen_toks=int(options.get("max_gen_toks") or 256),
    )
    return model, tokenizer, settings


def register() -> None:
    """Make ``--model glm`` known to lm-eval."""
    from lm_eval.api.registry import register_model

    @register_model("glm")
    class GLMHarnessModel(GLMEvalModel):
        def __init__(self, **options):  # lm-eval also passes device and max_batch_size
            super().__init__(*build(options))


def main() -> None:
    register()
    from lm_eval.__main__ import cli_evaluate

    with exit_on_bad_input("lm_eval_glm.py"):
        cli_evaluate()


if __name__ == "__main__":
    main()
