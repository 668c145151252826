"""The typed, read-only sections of ``GLMArgs``: one per flag group of ``training/flags.py``.

A section holds exactly the flags of its group (a test keeps the two in step), so every flag
has one home: ``--lr`` is ``args.optim.lr`` and nowhere else. Consumers never read sections
directly below the entry scripts; ``GLMArgs`` builds the small config each consumer takes.
"""

from __future__ import annotations

from dataclasses import dataclass


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
    checkpoint_activations: bool
    checkpoint_num_layers: int
    compile: bool
    block_lm: bool
    masked_lm: bool
    position_encoding: str
    make_vocab_size_divisible_by: int


@dataclass(frozen=True)
class TokenizerSection:
    tokenizer_type: str
    tokenizer_model_type: str | None
    tokenizer_path: str | None
    task_mask: bool
    fix_command_token: bool


@dataclass(frozen=True)
class MaskingSection:
    bert_prob: float
    gpt_infill_prob: float
    gpt_min_ratio: float
    gap_sentence_prob: float
    gap_sentence_ratio: float
    avg_block_length: float
    short_seq_prob: float
    single_span_prob: float
    no_shuffle_block: bool
    no_block_position: bool
    sentinel_token: bool
    block_mask_prob: float
    context_mask_ratio: float
    random_position: bool


@dataclass(frozen=True)
class DataSection:
    train_data: tuple[str, ...] | None
    valid_data: tuple[str, ...] | None
    test_data: tuple[str, ...] | None
    data_dir: str | None
    split: str
    seq_length: int
    shuffle: bool
    num_workers: int
    non_sentence_start: float
    sample_one_document: bool
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


@dataclass(frozen=True)
class ScheduleSection:
    lr_decay_style: str
    lr_decay_iters: int | None
    lr_decay_ratio: float
    warmup: float
    switch_linear: bool


@dataclass(frozen=True)
class TrainSection:
    batch_size: int
    gradient_accumulation_steps: int
    train_iters: int
    epochs: int | None
    seed: int
    eval_batch_size: int  # --eval-batch-size, default --batch-size
    eval_iters: int
    eval_interval: int
    eval_epoch: int
    max_bad_steps: int


@dataclass(frozen=True)
class ParallelSection:
    model_parallel_size: int
    distributed_backend: str | None
    local_rank: int | None
    deepspeed_config: str | None
    zero_stage: int
    cpu_offload: bool
    deepspeed_json: dict | None  # the JSON --deepspeed_config names, read once (not a flag)


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
    no_verify_checkpoint: bool


@dataclass(frozen=True)
class LogSection:
    experiment_name: str
    log_interval: int
    summary_dir: str


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
    blank_maskratio: float
    input_file: str | None
    output_file: str | None


@dataclass(frozen=True)
class TaskSection:
    label_smoothing: float
    task: str | None
    pool_token: str
    cloze_eval: bool
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


SECTIONS = {
    "model": ModelSection,
    "tokenizer": TokenizerSection,
    "masking": MaskingSection,
    "data": DataSection,
    "optim": OptimSection,
    "schedule": ScheduleSection,
    "train": TrainSection,
    "parallel": ParallelSection,
    "checkpoint": CheckpointSection,
    "log": LogSection,
    "generation": GenerationSection,
    "task": TaskSection,
}
