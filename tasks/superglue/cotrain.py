"""``--block-lm-ratio r``: co-train on blank infilling of the filled-in pattern texts.

Each training batch is, with probability ``r / (1 + r)``, a pretraining batch instead: the
pattern texts of its examples with the gold verbalizer/answer in the blank (``[CLS] ... [eos]``,
every token eligible), corrupted by GLM's blank-infilling objective (the ``--bert-prob`` /
``--gap-sentence-prob`` / ... flags). The draw for batch ``j`` of data-parallel rank ``d`` comes
from ``default_rng([seed, j, d])``, so every tensor-parallel rank makes the same choice with no
broadcast, and a run is reproducible.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset, get_worker_info

from data_utils.blank_infilling import InfillIds, MaskingConfig, build_glm_batch
from mpu import vocab_parallel_cross_entropy
from tasks.cloze_samples import collate
from tasks.pretrained import inner_glm
from tasks.superglue.dataset import TaskDataset


class PatternTextMix(Dataset):
    """A training split whose items carry the cloze sample and the pattern text; its
    ``collate`` builds either a cloze batch or a blank-infilling batch."""

    def __init__(
        self,
        cloze: TaskDataset,
        ratio: float,
        masking: MaskingConfig,
        ids: InfillIds,
        seed: int,
        dp_rank: int = 0,
    ):
        ids.check(masking)
        self.cloze, self.ratio, self.masking, self.ids = cloze, ratio, masking, ids
        self.seed, self.dp_rank, self._batches = seed, dp_rank, 0

    def __len__(self) -> int:
        return len(self.cloze)

    def __getitem__(self, index: int) -> dict[str, Any]:
        tokens = np.asarray(self.cloze.pvp.pattern_text(self.cloze.examples[index]), np.int64)
        return {"cloze": self.cloze[index], "pattern": (tokens, np.ones(len(tokens), np.float32))}

    def collate(self, items: list[dict[str, Any]]) -> dict[str, Any]:
        info = get_worker_info()
        workers, worker = (1, 0) if info is None else (info.num_workers, info.id)
        index = self._batches * workers + worker
        self._batches += 1
        rng = np.random.default_rng([self.seed, index, self.dp_rank])
        if rng.random() >= self.ratio / (1 + self.ratio):
            return collate([item["cloze"] for item in items])
        batch = build_glm_batch([item["pattern"] for item in items], self.masking, self.ids, rng)
        return {
            "tokens": batch.tokens,
            "targets": batch.targets,
            "loss_mask": batch.loss_mask,
            "position_ids": batch.position_ids,
            "sep": batch.sep,
        }


def blank_infilling_loss(model, batch: dict) -> torch.Tensor:
    """Token-mean LM loss of a pattern-text batch through the head's GLM."""
    glm = inner_glm(getattr(model, "module", model))
    logits = glm(batch["tokens"], batch["position_ids"], batch["sep"])
    losses = vocab_parallel_cross_entropy(logits.float(), batch["targets"])
    mask = batch["loss_mask"].float()
    return (losses * mask).sum() / mask.sum().clamp(min=1)
