"""Autoregressive blank infilling: GLM's pretraining objectives as seeded batch construction.

One batch flows through these modules in order (all pure numpy, seeded by the batch's rng):

    config.py       MaskingConfig (the flags) and InfillIds (the token ids it writes)
    spans.py        which objective, and where the blanks go: a span table [k, 3] per batch
    token_spans.py  the token-span (``bert``) placement, batched
    layout.py       Part A with a mask token per span, Part B with the spans (shuffled), and
                    their 2-D positions, targets and loss mask
    batch.py        GLMBatch, the typed result
    collator.py     build_glm_batch (the pipeline) and BlankInfillingCollator (the DataLoader
                    collate_fn, seeded by (seed, batch index, data-parallel rank))
"""

from data_utils.blank_infilling.batch import GLMBatch
from data_utils.blank_infilling.collator import BlankInfillingCollator, build_glm_batch, draw_mode
from data_utils.blank_infilling.config import SHORT_SEQ_MIN, InfillIds, MaskingConfig

__all__ = [
    "SHORT_SEQ_MIN",
    "BlankInfillingCollator",
    "GLMBatch",
    "InfillIds",
    "MaskingConfig",
    "build_glm_batch",
    "draw_mode",
]
