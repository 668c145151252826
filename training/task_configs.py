"""Flag sections -> the typed config of a task family (``tasks.config``).

Called by ``GLMArgs.task_config`` only: this is where the finetuning flags are checked against
what a task family needs (seq2seq lengths, the one LM evaluation file, ...), before any data is
read or a model is built.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data_utils.blank_infilling import MaskingConfig
from model import GLMConfig
from model.generation import GenerationConfig
from tasks.config import (
    ClozeOptions,
    ClozeTaskConfig,
    LMTaskConfig,
    MultichoiceConfig,
    Seq2SeqConfig,
    TaskConfig,
    TaskRun,
)
from training.sections import (
    DataSection,
    GenerationSection,
    TaskSection,
    TokenizerSection,
    TrainSection,
)


class TaskFlagError(ValueError):
    """Finetuning flags that do not fit the task; the message names the flag."""


@dataclass(frozen=True)
class TaskSources:
    """The sections (and configs already built from them) a task config is made of."""

    run: TaskRun
    task: TaskSection
    data: DataSection
    tokenizer: TokenizerSection
    generation: GenerationSection
    output_dropout: float  # --output-dropout (classification heads)
    masking: MaskingConfig
    decoding: GenerationConfig  # the generation flags, spans up to --tgt-seq-length


def _cloze(s: TaskSources) -> ClozeTaskConfig:
    t = s.task
    options = ClozeOptions(
        max_seq_length=s.data.seq_length,
        pattern_id=t.pattern_id,
        continuous_prompt=t.continuous_prompt,
        num_prompt_tokens=t.num_prompt_tokens,
        prefix_prompt=t.prefix_prompt,
        segment_length=t.segment_length,
        fast_decode=t.fast_decode,
        block_position=s.masking.block_position_encoding,
        wsc_negative=t.wsc_negative,
    )
    return ClozeTaskConfig(
        run=s.run,
        cloze=options,
        cloze_eval=t.cloze_eval,
        few_superglue=t.few_superglue,
        block_lm_ratio=t.block_lm_ratio,
        masking=s.masking,
        loss_func=t.loss_func,
        adapet=t.adapet,
        pool_token=t.pool_token,
        output_dropout=s.output_dropout,
        prompt_func=t.prompt_func,
        freeze_transformer=t.freeze_transformer,
        tune_prefix_layers=t.tune_prefix_layers,
        length_penalty=s.generation.length_penalty,
    )


def _multichoice(s: TaskSources) -> MultichoiceConfig:
    if not s.data.test_data:
        raise TaskFlagError("--task multichoice reads --test-data: give its JSON-lines file(s)")
    return MultichoiceConfig(
        run=s.run,
        files=tuple(s.data.test_data),
        unidirectional=s.task.unidirectional,
        block_position=s.masking.block_position_encoding,
        length_penalty=s.generation.length_penalty,
    )


def _seq2seq(s: TaskSources) -> Seq2SeqConfig:
    t = s.task
    if t.src_seq_length is None or t.tgt_seq_length is None:
        raise TaskFlagError(f"--task {s.run.name} needs --src-seq-length and --tgt-seq-length")
    return Seq2SeqConfig(
        run=s.run,
        src_seq_length=t.src_seq_length,
        tgt_seq_length=t.tgt_seq_length,
        task_mask=s.tokenizer.task_mask,
        legacy_source_padding=t.legacy_source_padding and not t.mask_pad_token,
        label_smoothing=t.label_smoothing,
        generation=s.decoding,
        blank_maskratio=s.generation.blank_maskratio,
        bert_tokenizer=s.tokenizer.tokenizer_type == "BertWordPieceTokenizer",
    )


def _language_model(s: TaskSources) -> LMTaskConfig:
    files = s.data.valid_data or ()
    if len(files) != 1:
        raise TaskFlagError(
            f"--task {s.run.name} reads exactly one --valid-data file, got {len(files)}"
        )
    return LMTaskConfig(
        run=s.run,
        valid_file=Path(files[0]),
        task_mask=s.tokenizer.task_mask,
        overlapping_eval=s.data.overlapping_eval,
        unidirectional=s.task.unidirectional,
        legacy_lm_denominator=s.task.legacy_lm_denominator,
    )


def task_run(
    task: TaskSection, data: DataSection, train: TrainSection, model: GLMConfig
) -> TaskRun:
    """What every family reads."""
    return TaskRun(
        name=(task.task or "").lower(),
        data_dir=Path(data.data_dir) if data.data_dir else None,
        seq_length=data.seq_length,
        eval_batch_size=train.eval_batch_size,
        seed=train.seed,
        training=bool(train.epochs),
        model=model,
    )


BUILDERS = {
    "cloze": _cloze,
    "classification": _cloze,
    "multichoice": _multichoice,
    "seq2seq": _seq2seq,
    "blank": _seq2seq,
    "lm": _language_model,
}


def build_task_config(family: str, sources: TaskSources) -> TaskConfig:
    return BUILDERS[family](sources)
