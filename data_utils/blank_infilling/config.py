"""What blank infilling reads: the masking flags (``MaskingConfig``) and the tokenizer's ids
(``InfillIds``)."""

from dataclasses import dataclass, field

import numpy as np

SHORT_SEQ_MIN = 32  # shortest window --short-seq-prob cuts


@dataclass(frozen=True)
class MaskingConfig:
    """The blank-infilling flags (spec §7); field names are the flag names, underscored.
    Flag values are validated where the flags are parsed (``training/arguments.py``)."""

    bert_prob: float = 0.5
    gap_sentence_prob: float = 0.0
    gpt_infill_prob: float = 0.5
    gpt_min_ratio: float = 0.5
    gap_sentence_ratio: float = 0.15
    avg_block_length: float = 3
    short_seq_prob: float = 0.0
    single_span_prob: float = 0.0
    block_mask_prob: float = 0.0
    context_mask_ratio: float = 0.0
    task_mask: bool = False
    shuffle_blocks: bool = True  # --no-shuffle-block sets False
    block_position_encoding: bool = True  # --no-block-position sets False
    sentinel_token: bool = False
    masked_lm: bool = False
    random_position: bool = False
    max_seq_length: int = 512  # --seq-length

    @property
    def gpt_prob(self) -> float:
        return 1.0 - self.bert_prob - self.gap_sentence_prob


@dataclass(frozen=True, eq=False)
class InfillIds:
    """The token ids blank infilling writes, and the sentence-end table it reads (§7.2)."""

    eos: int
    cls: int
    mask: int
    sop: int
    eop: int
    sentence_end: np.ndarray = field(repr=False)
    smask: int | None = None
    gmask: int | None = None
    dblock: int | None = None
    sentinel_masks: tuple[int, ...] = ()  # [MASK1], [MASK2], ... (--sentinel-token)
    sentinel_sops: tuple[int, ...] = ()  # <|startofpiece1|>, ...

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "InfillIds":
        """Read the ids from a `data_utils.tokenization.GLMTokenizer`."""
        names = {c.name: c.id for c in tokenizer.command_tokens}
        count = sum(1 for name in names if name.startswith("MASK") and name[4:].isdigit())
        return cls(
            eos=tokenizer.eos_id,
            cls=tokenizer.cls_id,
            mask=tokenizer.mask_id,
            sop=tokenizer.sop_id,
            eop=tokenizer.eop_id,
            sentence_end=tokenizer.sentence_end_table(),
            smask=tokenizer.smask_id,
            gmask=tokenizer.gmask_id,
            dblock=tokenizer.dblock_id,
            sentinel_masks=tuple(names[f"MASK{i}"] for i in range(1, count + 1)),
            sentinel_sops=tuple(names[f"sop{i}"] for i in range(1, count + 1)),
        )

    def check(self, config: MaskingConfig) -> None:
        """Fail early, naming the flag, when the tokenizer lacks a token the config needs."""
        if config.task_mask and (self.smask is None or self.gmask is None):
            raise ValueError("--task-mask needs [sMASK] and [gMASK]: build the tokenizer with it")
        if (config.block_mask_prob > 0 or config.context_mask_ratio > 0) and self.dblock is None:
            raise ValueError(
                "--block-mask-prob / --context-mask-ratio need [dBLOCK]: build the tokenizer "
                "with block_mask=True"
            )
        if config.sentinel_token and not self.sentinel_masks:
            raise ValueError("--sentinel-token needs [MASK{i}] tokens: build the tokenizer with it")

    def task_mask_id(self, task: str, config: MaskingConfig) -> int:
        if config.task_mask and task == "sentence":
            return self.smask
        if config.task_mask and task == "gpt":
            return self.gmask
        return self.mask
