"""Scores, losses and predictions of the cloze/classification tasks.

``compute_scores(model, batch)`` -> ``[b, C]`` scores of each label or candidate: single-token
cloze (verbalizer logits at the mask), multi-token cloze (summed answer log-probs, optionally
in chunks of rows, segments summed back per answer with ``scatter_add``), fast decode, or the
classification head. Padded choices get ``-10000``. ``cloze_loss`` implements ``--loss-func``
and ``--adapet``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from mpu import gather_from_model_parallel_region, vocab_parallel_cross_entropy

PADDED_CHOICE_SCORE = -10000.0


def _rows_forward(model, batch: dict, chunk: int | None) -> torch.Tensor:
    """Multi-token row scores ``[b, R]``, running at most ``chunk`` rows per forward."""
    rows = batch["input_ids"].shape[1]
    step = chunk or rows
    keys = ("input_ids", "position_ids", "sep", "target_ids", "logit_mask")
    outputs = []
    for start in range(0, rows, step):
        part = [batch[k][:, start : start + step] for k in keys]
        prompt = batch.get("prompt_pos")
        prompt = prompt[:, start : start + step] if prompt is not None else None
        outputs.append(model(*part, prompt_pos=prompt))
    return torch.cat(outputs, dim=1)


def compute_scores(model, batch: dict, chunk: int | None = None) -> torch.Tensor:
    prompt = batch.get("prompt_pos")
    context = (batch["input_ids"], batch["position_ids"], batch["sep"])
    if "label_ids" in batch:
        return model(*context, batch["label_ids"], prompt_pos=prompt)[0]
    if "dec_input_ids" in batch:
        dec = [
            batch[k]
            for k in ("dec_input_ids", "dec_position_ids", "dec_target_ids", "dec_logit_mask")
        ]
        scores = model(*context, *dec, prompt_pos=prompt)
    elif "target_ids" in batch:
        scores = _rows_forward(model, batch, chunk)
    else:
        scores = model(*context)
    if "segment_id" in batch:
        rows = scores * batch["row_mask"].to(scores.dtype)
        total = torch.zeros(batch["choice_mask"].shape, dtype=scores.dtype, device=scores.device)
        scores = total.scatter_add(1, batch["segment_id"], rows)
    if "choice_mask" in batch:
        mask = batch["choice_mask"].to(scores.dtype)
        scores = scores * mask + PADDED_CHOICE_SCORE * (1 - mask)
    return scores


def decoupled_label_loss(log_probs: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """ADAPET's decoupled label objective: ``-log p(gold) - sum_{c != gold} log(1 - p(c))`` with
    ``p`` the model's (full-vocabulary, not renormalised) probability of each label's
    verbalizer, or of each candidate answer. Padded choices (score -10000) add nothing."""
    gold = log_probs.gather(1, labels.unsqueeze(1)).squeeze(1)
    wrong = torch.log1p(-log_probs.clamp(max=-1e-6).exp())
    wrong = wrong.scatter(1, labels.unsqueeze(1), 0.0)
    return (-gold - wrong.sum(1)).mean()


def cloze_loss(scores: torch.Tensor, labels: torch.Tensor, loss_func: str, adapet: bool = False):
    """``--loss-func``: cross_entropy over the scores, hinge ``sum_c max(0, 1 + s_c - s_y) - 1``,
    generative ``-s_y``, or mix (generative + cross entropy); batch means."""
    scores = scores.float()
    if adapet:
        return decoupled_label_loss(scores, labels)
    gold = scores.gather(1, labels.unsqueeze(1)).squeeze(1)
    if loss_func == "cross_entropy":
        return F.cross_entropy(scores, labels)
    if loss_func == "hinge":
        return (F.relu(1 + scores - gold.unsqueeze(1)).sum(1) - 1).mean()
    if loss_func == "generative":
        return -gold.mean()
    if loss_func == "mix":
        return -gold.mean() + F.cross_entropy(scores, labels)
    raise ValueError(
        f"--loss-func {loss_func!r} is not one of cross_entropy, hinge, generative, mix"
    )


def lm_loss(model, batch: dict) -> torch.Tensor:
    """Token-mean LM loss on the ``logit_mask`` positions (the generative WSC regime)."""
    logits = model(batch["input_ids"], batch["position_ids"], batch["sep"])
    losses = vocab_parallel_cross_entropy(logits.float(), batch["target_ids"])
    mask = batch["logit_mask"].float()
    return (losses * mask).sum() / mask.sum().clamp(min=1)


def greedy_matches(model, batch: dict) -> torch.Tensor:
    """``[b]`` 1 where greedy argmax reproduces every answer token (generative WSC)."""
    logits = model(batch["input_ids"], batch["position_ids"], batch["sep"])
    predicted = gather_from_model_parallel_region(logits).argmax(-1)
    wrong = (predicted != batch["target_ids"]) & batch["logit_mask"].bool()
    return (~wrong.any(-1)).long()
