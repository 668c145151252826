"""Command-line flags (the original GLM names) parsed once into typed, read-only sections.

``parse_args(argv)`` returns ``GLMArgs``: frozen dataclass sections (model, tokenizer, masking,
data, optim, schedule, train, parallel, checkpoint, log, generation, task). Functions take the
section they need. Invalid values and combinations are rejected here, with one line naming the
flag. A DeepSpeed JSON (``--deepspeed_config``) is read here too: a value in it that conflicts
with a flag given on the command line is an error naming both; a value the command line leaves
unset is taken from the JSON.

The flag tables live in ``arguments_flags.py``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from arguments_flags import FLAG_GROUPS, UNSUPPORTED_FLAGS
from data_utils.blank_infilling import MaskingConfig
from data_utils.tokenization import TokenizerConfig
from model import GLMConfig
from model.generation import GenerationConfig


class ArgumentError(ValueError):
    """A flag value or combination that cannot run; the message names the flag."""


@dataclass(frozen=True)
class ModelSection:
    num_layers: int
    hidden_size: int
    num_attention_heads: int
    intermediate_size: int | None
    max_position_embeddings: int
    hidden_dropout: float
    attention_dropout: float
    output_dropout: float
    layernorm_epsilon: float
    attention_scale: float
    checkpoint_activations: bool
    checkpoint_num_layers: int
    block_lm: bool
    masked_lm: bool
    make_vocab_size_divisible_by: int

    def glm_config(self, vocab_size: int, **overrides) -> GLMConfig:
        """The GLMConfig for a padded vocabulary; ``overrides`` set head-specific fields
        (parallel_output, output_predict, spell_length, spell_func)."""
        fields_ = dict(
            num_layers=self.num_layers,
            vocab_size=vocab_size,
            hidden_size=self.hidden_size,
            num_attention_heads=self.num_attention_heads,
            intermediate_size=self.intermediate_size,
            max_sequence_length=self.max_position_embeddings,
            embedding_dropout_prob=self.hidden_dropout,
            attention_dropout_prob=self.attention_dropout,
            output_dropout_prob=self.hidden_dropout,
            block_position_encoding=self.block_lm and not self.masked_lm,
            attention_scale=self.attention_scale,
            checkpoint_activations=self.checkpoint_activations,
            checkpoint_num_layers=self.checkpoint_num_layers,
            layernorm_epsilon=self.layernorm_epsilon,
        )
        fields_.update(overrides)
        return GLMConfig(**fields_)


@dataclass(frozen=True)
class DataSection:
    train_data: tuple[str, ...] | None
    valid_data: tuple[str, ...] | None
    test_data: tuple[str, ...] | None
    data_dir: str | None
    split: str
    seq_length: int
    mem_length: int
    shuffle: bool
    num_workers: int
    text_key: str
    eval_text_key: str | None
    non_sentence_start: float
    sample_one_document: bool
    filter_english: bool
    loader_scatter: int | None
    multi_task_data: tuple[str, ...] | None
    multi_task_ratio: float
    multi_seq_length: int | None
    multi_batch_size: int | None
    load_splits: str | None
    save_splits: str | None
    save_test_data: str | None
    no_pre_tokenize: bool
    cache_dir: str | None
    eval_seq_length: int | None
    overlapping_eval: int


@dataclass(frozen=True)
class OptimSection:
    optimizer: str
    lr: float
    weight_decay: float
    adam_beta1: float
    adam_beta2: float
    adam_eps: float
    clip_grad: float
    fp16: bool
    bf16: bool
    loss_scale: float | None
    loss_scale_window: float
    hysteresis: int
    min_scale: float
    cpu_optimizer: bool
    cpu_torch_adam: bool


@dataclass(frozen=True)
class ScheduleSection:
    lr_decay_style: str
    lr_decay_iters: int | None
    lr_decay_ratio: float
    warmup: float
    switch_linear: bool


@dataclass(frozen=True)
class TrainSection:
    experiment_name: str
    batch_size: int
    gradient_accumulation_steps: int
    train_iters: int
    epochs: int | None
    seed: int
    eval_batch_size: int | None
    eval_iters: int
    eval_interval: int
    eval_epoch: int
    resume_dataloader: bool
    max_bad_steps: int
    label_smoothing: float


@dataclass(frozen=True)
class ParallelSection:
    model_parallel_size: int
    distributed_backend: str | None
    local_rank: int | None
    deepspeed: bool
    deepspeed_config: str | None
    deepspeed_mpi: bool
    deepspeed_activation_checkpointing: bool
    zero_stage: int
    cpu_offload: bool
    deepspeed_json: dict | None


@dataclass(frozen=True)
class CheckpointSection:
    save: str | None
    load: str | None
    load_pretrained: str | None
    save_interval: int
    save_epoch: int
    keep_last_n: int | None
    no_save_optim: bool
    no_save_rng: bool
    no_load_optim: bool
    no_load_rng: bool
    no_load_lr_scheduler: bool
    no_deepspeed_load: bool
    finetune: bool
    new_save_directory: bool


@dataclass(frozen=True)
class LogSection:
    log_interval: int
    summary_dir: str
    experiment_name: str


@dataclass(frozen=True)
class GenerationSection:
    temperature: float
    top_p: float
    top_k: int
    out_seq_length: int
    num_beams: int
    length_penalty: float
    no_repeat_ngram_size: int
    min_tgt_length: int
    select_topk: bool
    blank_maskratio: float
    input_file: str | None
    output_file: str | None
    batch_size: int


@dataclass(frozen=True)
class TaskSection:
    task: str | None
    data_dir: str | None
    pool_token: str
    cloze_eval: bool
    multi_token: bool
    segment_length: int
    loss_func: str
    block_lm_ratio: float
    adapet: bool
    pattern_id: int
    fast_decode: bool
    few_superglue: bool
    eval_valid: bool
    validation_metric: str | None
    unidirectional: bool
    src_seq_length: int | None
    tgt_seq_length: int | None
    wsc_negative: bool
    overwrite: bool
    no_validation: bool
    continuous_prompt: bool
    num_prompt_tokens: int
    prompt_func: str
    freeze_transformer: bool
    tune_prefix_layers: int | None
    prefix_prompt: int
    prompt_init: bool
    mask_pad_token: bool
    legacy_lm_denominator: bool
    legacy_source_padding: bool
    length_penalty: float
    label_smoothing: float


@dataclass(frozen=True)
class GLMArgs:
    model: ModelSection
    tokenizer: TokenizerConfig
    masking: MaskingConfig
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
            no_block_position=not self.masking.block_position_encoding,
            seed=self.train.seed,
        )


def build_parser(description: str = "GLM") -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description, allow_abbrev=False)
    for title, flags in FLAG_GROUPS.items():
        group = parser.add_argument_group(title)
        for names, options in flags:
            group.add_argument(*names, **options)
    return parser


def _given(argv: list[str]) -> set[str]:
    """Destinations of the flags actually present on the command line."""
    return {
        token[2:].split("=", 1)[0].replace("-", "_") for token in argv if token.startswith("--")
    }


def _pick(cls, values: dict, **extra):
    return cls(**{f.name: extra.get(f.name, values.get(f.name)) for f in fields(cls)})


def parse_args(argv: list[str] | None = None, description: str = "GLM") -> GLMArgs:
    """Parse and validate ``argv`` (default ``sys.argv[1:]``); errors exit with one line."""
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = build_parser(description)
    namespace = parser.parse_args(argv)
    try:
        return build_args(vars(namespace), _given(argv))
    except (ArgumentError, ValueError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")


def build_args(values: dict, given: set[str]) -> GLMArgs:
    """Validate parsed flag values and build the sections (``given``: flags set explicitly)."""
    values = dict(values)
    for dest, reason in UNSUPPORTED_FLAGS.items():
        if values.get(dest):
            raise ArgumentError(f"--{dest.replace('_', '-')} is not supported: {reason}")
    _resolve_environment(values)
    values["deepspeed_json"] = _reconcile_deepspeed_json(values, given)
    _validate(values)
    for key in ("train_data", "valid_data", "test_data", "multi_task_data"):
        if values.get(key) is not None:
            values[key] = tuple(values[key])
    masking = _pick(
        MaskingConfig,
        values,
        shuffle_blocks=not values["no_shuffle_block"],
        block_position_encoding=not values["no_block_position"],
        max_seq_length=values["seq_length"],
    )
    tokenizer = _pick(
        TokenizerConfig,
        values,
        block_mask=values["block_mask_prob"] > 0 or values["context_mask_ratio"] > 0,
    )
    return GLMArgs(
        model=_pick(ModelSection, values),
        tokenizer=tokenizer,
        masking=masking,
        data=_pick(DataSection, values),
        optim=_pick(OptimSection, values),
        schedule=_pick(ScheduleSection, values),
        train=_pick(TrainSection, values),
        parallel=_pick(ParallelSection, values),
        checkpoint=_pick(CheckpointSection, values),
        log=_pick(LogSection, values),
        generation=_pick(GenerationSection, values),
        task=_pick(TaskSection, values),
    )


def _resolve_environment(values: dict) -> None:
    """Defaults that come from the environment: vocab folder, launcher-provided local rank."""
    if values["tokenizer_path"] is None:
        values["tokenizer_path"] = os.environ.get("GLM_TOKENIZER_PATH")
    if values["local_rank"] is None and "LOCAL_RANK" in os.environ:
        values["local_rank"] = int(os.environ["LOCAL_RANK"])
    if values["eval_batch_size"] is None:
        values["eval_batch_size"] = values["batch_size"]


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
    "optimizer.params.lr": ("lr", lambda j: j.get("optimizer", {}).get("params", {}).get("lr")),
    "optimizer.params.weight_decay": (
        "weight_decay",
        lambda j: j.get("optimizer", {}).get("params", {}).get("weight_decay"),
    ),
    "optimizer.params.eps": (
        "adam_eps",
        lambda j: j.get("optimizer", {}).get("params", {}).get("eps"),
    ),
    "gradient_clipping": ("clip_grad", lambda j: j.get("gradient_clipping")),
    "fp16.enabled": ("fp16", lambda j: j.get("fp16", {}).get("enabled")),
    "bf16.enabled": ("bf16", lambda j: j.get("bf16", {}).get("enabled")),
    "zero_optimization.stage": (
        "zero_stage",
        lambda j: j.get("zero_optimization", {}).get("stage"),
    ),
}


def _reconcile_deepspeed_json(values: dict, given: set[str]) -> dict | None:
    path = values.get("deepspeed_config")
    if path is None:
        return None
    try:
        config = json.loads(Path(path).read_text())
    except FileNotFoundError:
        raise ArgumentError(f"--deepspeed_config {path} does not exist") from None
    except json.JSONDecodeError as error:
        raise ArgumentError(f"--deepspeed_config {path} is not valid JSON: {error}") from None
    betas = config.get("optimizer", {}).get("params", {}).get("betas")
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
    if config.get("zero_optimization", {}).get("offload_optimizer") or config.get(
        "zero_optimization", {}
    ).get("cpu_offload"):
        values["cpu_offload"] = True
    return config


def _validate(v: dict) -> None:
    def require(condition: bool, message: str) -> None:
        if not condition:
            raise ArgumentError(message)

    mp = v["model_parallel_size"]
    require(mp >= 1, f"--model-parallel-size must be >= 1, got {mp}")
    require(
        v["num_attention_heads"] % mp == 0,
        f"--num-attention-heads {v['num_attention_heads']} is not divisible by "
        f"--model-parallel-size {mp}",
    )
    require(
        v["hidden_size"] % v["num_attention_heads"] == 0,
        f"--hidden-size {v['hidden_size']} is not divisible by "
        f"--num-attention-heads {v['num_attention_heads']}",
    )
    require(
        v["seq_length"] <= v["max_position_embeddings"] or not v["block_lm"],
        f"--seq-length {v['seq_length']} exceeds --max-position-embeddings "
        f"{v['max_position_embeddings']}",
    )
    require(not (v["fp16"] and v["bf16"]), "--fp16 and --bf16 are exclusive: pick one")
    require(0.0 <= v["warmup"] <= 1.0, f"--warmup is a fraction in [0, 1], got {v['warmup']}")
    require(
        0.0 < v["lr_decay_ratio"] <= 1.0,
        f"--lr-decay-ratio must be in (0, 1], got {v['lr_decay_ratio']}",
    )
    for name in ("batch_size", "gradient_accumulation_steps", "num_beams", "checkpoint_num_layers"):
        require(v[name] >= 1, f"--{name.replace('_', '-')} must be >= 1, got {v[name]}")
    require(v["train_iters"] >= 0, f"--train-iters must be >= 0, got {v['train_iters']}")
    require(v["temperature"] > 0, f"--temperature must be > 0, got {v['temperature']}")
    require(0.0 <= v["top_p"] <= 1.0, f"--top-p must be in [0, 1], got {v['top_p']}")
    require(v["top_k"] >= 0, f"--top-k must be >= 0, got {v['top_k']}")
    require(
        v["keep_last_n"] is None or v["keep_last_n"] >= 1,
        f"--keep-last-n must be >= 1, got {v['keep_last_n']}",
    )
    require(v["zero_stage"] in (0, 1, 2, 3), f"--zero-stage must be 0-3, got {v['zero_stage']}")
    require(
        not v["sentinel_token"] or v["tokenizer_type"] == "BertWordPieceTokenizer",
        "--sentinel-token needs --tokenizer-type BertWordPieceTokenizer",
    )
