"""Command-line flags (the original GLM names) parsed once into typed, read-only sections.

``parse_args(argv)`` returns ``GLMArgs``: one frozen section per flag group of
``training/flags.py`` (model, tokenizer, masking, data, optim, schedule, train, parallel,
checkpoint, log, generation, task); every flag lives in exactly one section. All validation of
flag values and combinations happens here, with one line naming the flag. A DeepSpeed JSON
(``--deepspeed_config``) is read here too: a value in it that conflicts with a flag given on
the command line is an error naming both; a value the command line leaves unset is taken from
the JSON.

Consumers below the entry scripts never see ``GLMArgs``: its methods build the small typed
config each of them takes (``tokenizer_config``, ``masking_config``, ``model_config``,
``engine_config``, ``loop_config``, ``generation_config``, ``task_config``, ...).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from data_utils.blank_infilling import SHORT_SEQ_MIN, MaskingConfig
from data_utils.tokenization import TokenizerConfig
from model import GLMConfig
from model.config import head_size_multiple
from model.generation import GenerationConfig
from tasks.config import TaskConfig
from training.checkpointing import ResumeOptions, SaveOptions
from training.engine import EngineConfig, ScheduleConfig
from training.flags import (
    COMPATIBILITY_FLAGS,
    FLAG_GROUPS,
    GROUP_TITLES,
    UNSUPPORTED_FLAGS,
    passive_flag,
)
from training.loop import LoopConfig
from training.sections import (
    SECTIONS,
    CheckpointSection,
    DataSection,
    GenerationSection,
    LogSection,
    MaskingSection,
    ModelSection,
    OptimSection,
    ParallelSection,
    ScheduleSection,
    TaskSection,
    TokenizerSection,
    TrainSection,
)
from training.task_configs import TaskSources, build_task_config, task_run


class ArgumentError(ValueError):
    """A flag value or combination that cannot run; the message names the flag."""


@dataclass(frozen=True)
class GLMArgs:
    model: ModelSection
    tokenizer: TokenizerSection
    masking: MaskingSection
    data: DataSection
    optim: OptimSection
    schedule: ScheduleSection
    train: TrainSection
    parallel: ParallelSection
    checkpoint: CheckpointSection
    log: LogSection
    generation: GenerationSection
    task: TaskSection

    def to_dict(self) -> dict:
        """The resolved configuration, JSON-serialisable (saved beside checkpoints)."""
        return {f.name: asdict(getattr(self, f.name)) for f in fields(self)}

    def tokenizer_config(self) -> TokenizerConfig:
        t, m, k = self.tokenizer, self.model, self.masking
        return TokenizerConfig(
            tokenizer_type=t.tokenizer_type,
            tokenizer_model_type=t.tokenizer_model_type,
            tokenizer_path=t.tokenizer_path,
            block_lm=m.block_lm,
            task_mask=t.task_mask,
            fix_command_token=t.fix_command_token,
            block_mask=k.block_mask_prob > 0 or k.context_mask_ratio > 0,
            sentinel_token=k.sentinel_token,
            max_position_embeddings=m.max_position_embeddings,
            make_vocab_size_divisible_by=m.make_vocab_size_divisible_by,
        )

    def masking_config(self) -> MaskingConfig:
        k = self.masking
        return MaskingConfig(
            bert_prob=k.bert_prob,
            gap_sentence_prob=k.gap_sentence_prob,
            gpt_infill_prob=k.gpt_infill_prob,
            gpt_min_ratio=k.gpt_min_ratio,
            gap_sentence_ratio=k.gap_sentence_ratio,
            avg_block_length=k.avg_block_length,
            short_seq_prob=k.short_seq_prob,
            single_span_prob=k.single_span_prob,
            block_mask_prob=k.block_mask_prob,
            context_mask_ratio=k.context_mask_ratio,
            task_mask=self.tokenizer.task_mask,
            shuffle_blocks=not k.no_shuffle_block,
            block_position_encoding=not k.no_block_position,
            sentinel_token=k.sentinel_token,
            masked_lm=self.model.masked_lm,
            random_position=k.random_position,
            max_seq_length=self.data.seq_length,
        )

    def model_config(self, vocab_size: int, **overrides) -> GLMConfig:
        """The GLMConfig for a padded vocabulary; ``overrides`` set head-specific fields
        (parallel_output, output_predict, spell_length, spell_func, ...)."""
        m = self.model
        values = dict(
            num_layers=m.num_layers,
            vocab_size=vocab_size,
            hidden_size=m.hidden_size,
            num_attention_heads=m.num_attention_heads,
            intermediate_size=m.intermediate_size,
            max_sequence_length=m.max_position_embeddings,
            embedding_dropout_prob=m.hidden_dropout,
            attention_dropout_prob=m.attention_dropout,
            output_dropout_prob=m.hidden_dropout,
            block_position_encoding=m.block_lm and not m.masked_lm,
            position_encoding=m.position_encoding,
            checkpoint_activations=m.checkpoint_activations,
            checkpoint_num_layers=m.checkpoint_num_layers,
            compile_layers=m.compile,
            layernorm_epsilon=m.layernorm_epsilon,
        )
        values.update(overrides)
        return GLMConfig(**values)

    def generation_config(self, out_seq_length: int | None = None) -> GenerationConfig:
        """Decoding settings from the flags; ``out_seq_length`` overrides --out-seq-length
        (seq2seq decodes up to --tgt-seq-length)."""
        g = self.generation
        return GenerationConfig(
            out_seq_length=out_seq_length or g.out_seq_length,
            temperature=g.temperature,
            top_k=g.top_k,
            top_p=g.top_p,
            num_beams=g.num_beams,
            length_penalty=g.length_penalty,
            no_repeat_ngram_size=g.no_repeat_ngram_size,
            min_tgt_length=g.min_tgt_length,
            no_block_position=self.masking.no_block_position,
            seed=self.train.seed,
        )

    def engine_config(self) -> EngineConfig:
        o, s = self.optim, self.schedule
        return EngineConfig(
            micro_batch_size=self.train.batch_size,
            gradient_accumulation_steps=self.train.gradient_accumulation_steps,
            optimizer=o.optimizer,
            lr=o.lr,
            weight_decay=o.weight_decay,
            adam_beta1=o.adam_beta1,
            adam_beta2=o.adam_beta2,
            adam_eps=o.adam_eps,
            clip_grad=o.clip_grad,
            fp16=o.fp16,
            bf16=o.bf16,
            loss_scale=o.loss_scale,
            loss_scale_window=o.loss_scale_window,
            hysteresis=o.hysteresis,
            min_scale=o.min_scale,
            zero_stage=self.parallel.zero_stage,
            cpu_offload=self.parallel.cpu_offload or o.cpu_optimizer,
            schedule=ScheduleConfig(s.lr_decay_style, s.lr_decay_iters, s.lr_decay_ratio, s.warmup),
            deepspeed_json=self.parallel.deepspeed_json,
        )

    def loop_config(self) -> LoopConfig:
        return LoopConfig(
            micro_batch_size=self.train.batch_size,
            gradient_accumulation_steps=self.train.gradient_accumulation_steps,
            max_bad_steps=self.train.max_bad_steps,
            eval_interval=self.train.eval_interval,
            save_interval=self.checkpoint.save_interval,
        )

    def save_options(self) -> SaveOptions:
        c = self.checkpoint
        return SaveOptions(not c.no_save_optim, not c.no_save_rng, c.keep_last_n)

    def resume_options(self) -> ResumeOptions:
        c = self.checkpoint
        return ResumeOptions(not c.no_load_optim, not c.no_load_rng, not c.no_load_lr_scheduler)

    def task_config(self, family: str, vocab_size: int) -> TaskConfig:
        """The typed config of ``--task`` (of ``family``) for a padded vocabulary."""
        run = task_run(self.task, self.data, self.train, self.model_config(vocab_size))
        sources = TaskSources(
            run=run,
            task=self.task,
            data=self.data,
            tokenizer=self.tokenizer,
            generation=self.generation,
            output_dropout=self.model.output_dropout,
            masking=self.masking_config(),
            decoding=self.generation_config(self.task.tgt_seq_length),
        )
        return build_task_config(family, sources)


def build_parser(description: str = "GLM") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    for section, flags in FLAG_GROUPS.items():
        group = parser.add_argument_group(GROUP_TITLES[section])
        for names, options in flags:
            group.add_argument(*names, **options)
    tables = (
        ("accepted for compatibility (no effect here; a warning)", COMPATIBILITY_FLAGS),
        ("not supported (an error naming the reason)", UNSUPPORTED_FLAGS),
    )
    for title, table in tables:
        group = parser.add_argument_group(title)
        for name, (kind, reason) in table.items():
            names, options = passive_flag(name, kind, reason)
            group.add_argument(*names, **options)
    return parser


def _dest(flag: str) -> str:
    return flag.lstrip("-").replace("-", "_")


def _given(argv: list[str]) -> set[str]:
    """Destinations of the flags actually present on the command line."""
    return {_dest(token.split("=", 1)[0]) for token in argv if token.startswith("--")}


def parse_args(argv: list[str] | None = None, description: str = "GLM") -> GLMArgs:
    """Parse and validate ``argv`` (default ``sys.argv[1:]``); errors exit with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(description)
    namespace = parser.parse_args(argv)
    try:
        args = build_args(vars(namespace), _given(argv))
    except ValueError as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    _warn_compatibility_flags(parser.prog, vars(namespace))
    return args


def _warn_compatibility_flags(prog: str, values: dict) -> None:
    """One line per compatibility flag that was set (on global rank 0 only)."""
    if int(os.environ.get("RANK", "0")) != 0:
        return
    for name, (_, reason) in COMPATIBILITY_FLAGS.items():
        value = values.get(_dest(name))
        if value not in (None, False):
            print(f"{prog}: warning: {name} has no effect here: {reason}", file=sys.stderr)


def build_args(values: dict, given: set[str]) -> GLMArgs:
    """Validate parsed flag values and build the sections (``given``: flags set explicitly)."""
    values = dict(values)
    for name, (_, reason) in UNSUPPORTED_FLAGS.items():
        if values.get(_dest(name)) not in (None, False):
            raise ArgumentError(f"{name} is not supported: {reason}")
    _resolve_environment(values)
    values["deepspeed_json"] = _reconcile_deepspeed_json(values, given)
    _validate(values)
    for key in ("train_data", "valid_data", "test_data"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    sections = {
        name: cls(**{f.name: values[f.name] for f in fields(cls)}) for name, cls in SECTIONS.items()
    }
    return GLMArgs(**sections)


def _resolve_environment(values: dict) -> None:
    """Defaults that come from the environment: vocab folder, launcher-provided local rank."""
    if values["tokenizer_path"] is None:
        values["tokenizer_path"] = os.environ.get("GLM_TOKENIZER_PATH")
    if values["local_rank"] is None and "LOCAL_RANK" in os.environ:
        values["local_rank"] = int(os.environ["LOCAL_RANK"])
    if values["eval_batch_size"] is None:
        values["eval_batch_size"] = values["batch_size"]


def _optimizer_params(config: dict) -> dict:
    return config.get("optimizer", {}).get("params", {})


# DeepSpeed JSON entry -> (flag dest, how to read it from the JSON)
_JSON_FLAGS = {
    "train_micro_batch_size_per_gpu": (
        "batch_size",
        lambda j: j.get("train_micro_batch_size_per_gpu"),
    ),
    "gradient_accumulation_steps": (
        "gradient_accumulation_steps",
        lambda j: j.get("gradient_accumulation_steps"),
    ),
    "optimizer.params.lr": ("lr", lambda j: _optimizer_params(j).get("lr")),
    "optimizer.params.weight_decay": (
        "weight_decay",
        lambda j: _optimizer_params(j).get("weight_decay"),
    ),
    "optimizer.params.eps": ("adam_eps", lambda j: _optimizer_params(j).get("eps")),
    "gradient_clipping": ("clip_grad", lambda j: j.get("gradient_clipping")),
    "fp16.enabled": ("fp16", lambda j: j.get("fp16", {}).get("enabled")),
    "bf16.enabled": ("bf16", lambda j: j.get("bf16", {}).get("enabled")),
    "zero_optimization.stage": (
        "zero_stage",
        lambda j: j.get("zero_optimization", {}).get("stage"),
    ),
}


def _read_deepspeed_json(path: str) -> dict:
    try:
        config = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ArgumentError(f"--deepspeed_config {path} does not exist") from None
    except UnicodeDecodeError as error:
        raise ArgumentError(
            f"--deepspeed_config {path} is not UTF-8 text ({error.reason} at byte "
            f"{error.start}): save it as UTF-8"
        ) from None
    except json.JSONDecodeError as error:
        raise ArgumentError(f"--deepspeed_config {path} is not valid JSON: {error}") from None
    if not isinstance(config, dict):
        raise ArgumentError(f"--deepspeed_config {path} must hold a JSON object")
    return config


def _reconcile_deepspeed_json(values: dict, given: set[str]) -> dict | None:
    path = values.get("deepspeed_config")
    if path is None:
        return None
    config = _read_deepspeed_json(path)
    betas = _optimizer_params(config).get("betas")
    checks = dict(_JSON_FLAGS)
    if betas is not None:
        checks["optimizer.params.betas[0]"] = ("adam_beta1", lambda j: betas[0])
        checks["optimizer.params.betas[1]"] = ("adam_beta2", lambda j: betas[1])
    for entry, (dest, read) in checks.items():
        json_value = read(config)
        if json_value is None:
            continue
        if dest in given and values[dest] != json_value:
            raise ArgumentError(
                f"--{dest.replace('_', '-')} {values[dest]} conflicts with {entry} = {json_value} "
                f"in {path}: remove one of them"
            )
        values[dest] = type(values[dest])(json_value) if values[dest] is not None else json_value
    zero = config.get("zero_optimization", {})
    if zero.get("offload_optimizer") or zero.get("cpu_offload"):
        values["cpu_offload"] = True
    return config


def _require(condition: bool, message: str) -> None:
    if not condition:
        raise ArgumentError(message)


def _validate(v: dict) -> None:
    mp = v["model_parallel_size"]
    _require(mp >= 1, f"--model-parallel-size must be >= 1, got {mp}")
    _require(
        v["num_attention_heads"] % mp == 0,
        f"--num-attention-heads {v['num_attention_heads']} is not divisible by "
        f"--model-parallel-size {mp}",
    )
    _require(
        v["hidden_size"] % v["num_attention_heads"] == 0,
        f"--hidden-size {v['hidden_size']} is not divisible by "
        f"--num-attention-heads {v['num_attention_heads']}",
    )
    _require(
        v["seq_length"] <= v["max_position_embeddings"] or not v["block_lm"],
        f"--seq-length {v['seq_length']} exceeds --max-position-embeddings "
        f"{v['max_position_embeddings']}",
    )
    multiple = head_size_multiple(v["block_lm"] and not v["masked_lm"])
    head_size = v["hidden_size"] // v["num_attention_heads"]
    _require(
        v["position_encoding"] != "rotary" or head_size % multiple == 0,
        f"--position-encoding rotary needs a head size (--hidden-size / --num-attention-heads "
        f"= {head_size}) divisible by {multiple}",
    )
    _require(not (v["fp16"] and v["bf16"]), "--fp16 and --bf16 are exclusive: pick one")
    _require(0.0 <= v["warmup"] <= 1.0, f"--warmup is a fraction in [0, 1], got {v['warmup']}")
    _require(
        0.0 < v["lr_decay_ratio"] <= 1.0,
        f"--lr-decay-ratio must be in (0, 1], got {v['lr_decay_ratio']}",
    )
    for name in ("batch_size", "gradient_accumulation_steps", "num_beams", "checkpoint_num_layers"):
        _require(v[name] >= 1, f"--{name.replace('_', '-')} must be >= 1, got {v[name]}")
    _require(v["train_iters"] >= 0, f"--train-iters must be >= 0, got {v['train_iters']}")
    _require(v["temperature"] > 0, f"--temperature must be > 0, got {v['temperature']}")
    _require(0.0 <= v["top_p"] <= 1.0, f"--top-p must be in [0, 1], got {v['top_p']}")
    _require(v["top_k"] >= 0, f"--top-k must be >= 0, got {v['top_k']}")
    _require(
        v["keep_last_n"] is None or v["keep_last_n"] >= 1,
        f"--keep-last-n must be >= 1, got {v['keep_last_n']}",
    )
    _require(v["zero_stage"] in (0, 1, 2, 3), f"--zero-stage must be 0-3, got {v['zero_stage']}")
    _require(
        not (v["no_save_optim"] and v["zero_stage"] == 3),
        "--no-save-optim cannot apply to ZeRO stage 3: its optimizer files hold the only copy of "
        "the weights; drop the flag (or consolidate later with `change_mp.py --from-zero`)",
    )
    _require(
        not v["sentinel_token"] or v["tokenizer_type"] == "BertWordPieceTokenizer",
        "--sentinel-token needs --tokenizer-type BertWordPieceTokenizer",
    )
    _validate_masking(v)


_PROBABILITIES = (
    "bert_prob",
    "gap_sentence_prob",
    "gpt_infill_prob",
    "gpt_min_ratio",
    "gap_sentence_ratio",
    "short_seq_prob",
    "single_span_prob",
    "block_mask_prob",
    "context_mask_ratio",
)


def _validate_masking(v: dict) -> None:
    """The blank-infilling flags (spec §7)."""
    for name in _PROBABILITIES:
        flag = "--" + name.replace("_", "-")
        _require(0.0 <= v[name] <= 1.0, f"{flag} must be in [0, 1], got {v[name]}")
    _require(
        v["bert_prob"] + v["gap_sentence_prob"] <= 1.0 + 1e-9,
        "--bert-prob + --gap-sentence-prob must be <= 1, got "
        f"{v['bert_prob']} + {v['gap_sentence_prob']}",
    )
    _require(
        v["avg_block_length"] > 0, f"--avg-block-length must be > 0, got {v['avg_block_length']}"
    )
    _require(
        not v["masked_lm"] or v["bert_prob"] == 1.0,
        f"--masked-lm is the BERT-style baseline and needs --bert-prob 1, got {v['bert_prob']}",
    )
    _require(
        v["short_seq_prob"] == 0 or v["seq_length"] > SHORT_SEQ_MIN + 2,
        f"--short-seq-prob needs --seq-length > {SHORT_SEQ_MIN + 2}, got {v['seq_length']}",
    )
