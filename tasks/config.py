"""What each task family reads: one small typed config per family, built from the flags by
``GLMArgs.task_config`` in the entry script.

``TaskRun`` holds what every family needs (the task, its data, lengths, batch size, seed, the
model the flags describe); each family's config adds its own settings. Task code reads these
and nothing else of the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from data_utils.blank_infilling import MaskingConfig
from model import GLMConfig
from model.generation import GenerationConfig


@dataclass(frozen=True)
class TaskRun:
    name: str  # --task, lower-case
    data_dir: Path | None  # --data-dir
    seq_length: int  # --seq-length
    eval_batch_size: int  # --eval-batch-size (default --batch-size)
    seed: int  # --seed
    training: bool  # --epochs > 0
    model: GLMConfig  # the model the flags describe, on the tokenizer's padded vocabulary


@dataclass(frozen=True)
class ClozeOptions:
    """The flags that shape cloze inputs."""

    max_seq_length: int
    pattern_id: int = 0
    continuous_prompt: bool = False
    num_prompt_tokens: int = 0
    prefix_prompt: int = 0
    segment_length: int = 0
    fast_decode: bool = False
    block_position: bool = True
    wsc_negative: bool = False


@dataclass(frozen=True)
class ClozeTaskConfig:
    """SuperGLUE, GLUE, CLUE, RACE, ... scored through patterns (``--cloze-eval``) or a
    classification head."""

    run: TaskRun
    cloze: ClozeOptions
    cloze_eval: bool
    few_superglue: bool
    block_lm_ratio: float  # blank-infilling co-training on the pattern texts
    masking: MaskingConfig  # the blank infilling of that co-training
    loss_func: str
    adapet: bool
    pool_token: str
    output_dropout: float
    prompt_func: str
    freeze_transformer: bool
    tune_prefix_layers: int | None
    length_penalty: float

    @property
    def wsc_generative(self) -> bool:
        """WSC trained as a language model on the referent (no ``--wsc-negative``)."""
        return self.run.name in ("wsc", "wsc1") and self.cloze_eval and not self.cloze.wsc_negative


@dataclass(frozen=True)
class MultichoiceConfig:
    """Zero-shot multiple choice over JSON-lines files (``--test-data``)."""

    run: TaskRun
    files: tuple[str, ...]
    unidirectional: bool
    block_position: bool
    length_penalty: float


@dataclass(frozen=True)
class Seq2SeqConfig:
    """Summarisation, question generation/answering, blank infilling as generation."""

    run: TaskRun
    src_seq_length: int
    tgt_seq_length: int
    task_mask: bool
    legacy_source_padding: bool  # GLM's padding inside Part A (and not hidden)
    label_smoothing: float
    generation: GenerationConfig  # spans up to --tgt-seq-length tokens
    blank_maskratio: float
    bert_tokenizer: bool  # ROUGE re-joins WordPiece output


@dataclass(frozen=True)
class LMTaskConfig:
    """Zero-shot LAMBADA, WikiText and LM perplexity on one ``--valid-data`` file."""

    run: TaskRun
    valid_file: Path
    task_mask: bool
    overlapping_eval: int
    unidirectional: bool
    legacy_lm_denominator: bool


TaskConfig = ClozeTaskConfig | MultichoiceConfig | Seq2SeqConfig | LMTaskConfig
FAMILY_CONFIGS: dict[str, type] = {
    "cloze": ClozeTaskConfig,
    "classification": ClozeTaskConfig,
    "multichoice": MultichoiceConfig,
    "seq2seq": Seq2SeqConfig,
    "blank": Seq2SeqConfig,
    "lm": LMTaskConfig,
}
