"""Finetuning heads on top of GLMModel: cloze scoring (single- and multi-token) and
classification.

Cloze heads delegate their state dict to the inner GLMModel, so a finetuned cloze checkpoint has
plain GLM keys (no ``model.`` prefix) and loads wherever a pretrained one does. The
classification head adds ``pool_layer`` and ``multichoice_head`` and keeps the ``model.`` prefix
for the transformer, as GLM checkpoints of that head do.

A leading choice dimension ``C`` (inputs ``[b, C, ...]``) is flattened into the batch and the
scores come back as ``[b, C]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from model.glm import GLMModel
from mpu import gather_from_model_parallel_region, vocab_parallel_cross_entropy


def _flatten_choices(input_ids: torch.Tensor, *others: torch.Tensor | None):
    """With a choice dimension (``input_ids`` ``[b, C, L]``) merge ``b`` and ``C`` in every
    tensor; returns the tensors and ``(b, C)`` (None without a choice dimension)."""
    if input_ids.dim() != 3:
        return (input_ids, *others), None
    flat = [t.flatten(0, 1) if t is not None else None for t in (input_ids, *others)]
    return flat, tuple(input_ids.shape[:2])


class _DelegatingHead(nn.Module):
    """Saves and loads exactly the inner model's state dict."""

    model: GLMModel

    def state_dict(self, *args, **kwargs):
        return self.model.state_dict(*args, **kwargs)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        return self.model.load_state_dict(state_dict, strict=strict, assign=assign)


class GLMForMultiTokenCloze(_DelegatingHead):
    """Score each candidate answer by the summed log-probability of its tokens (teacher forced).

    ``target_ids``/``logit_mask`` ``[b, (C,) L]`` select the scored positions; with
    ``length_penalty > 0`` the sum is divided by (number of scored tokens) ** length_penalty.
    """

    def __init__(self, model: GLMModel, take_softmax: bool = True, length_penalty: float = 0.0):
        super().__init__()
        self.model, self.take_softmax, self.length_penalty = model, take_softmax, length_penalty

    def forward(
        self,
        input_ids,
        position_ids,
        attention_mask,
        target_ids=None,
        logit_mask=None,
        prompt_pos=None,
    ):
        flat, choices = _flatten_choices(
            input_ids, position_ids, attention_mask, target_ids, logit_mask, prompt_pos
        )
        input_ids, position_ids, attention_mask, target_ids, logit_mask, prompt_pos = flat
        logits = self.model(input_ids, position_ids, attention_mask, prompt_pos=prompt_pos)
        if target_ids is None:
            return logits
        scores = score_tokens(logits, target_ids, logit_mask, self.take_softmax)
        if self.length_penalty > 0:
            scores = scores / logit_mask.sum(-1).clamp(min=1) ** self.length_penalty
        return scores.view(choices) if choices is not None else scores


def score_tokens(logits, target_ids, logit_mask, take_softmax: bool = True) -> torch.Tensor:
    """Σ over masked positions of log p(target) (or the raw target logit); ``[b]``."""
    if take_softmax:
        per_token = -vocab_parallel_cross_entropy(logits, target_ids)
    else:
        full = gather_from_model_parallel_region(logits)
        per_token = full.float().gather(-1, target_ids.unsqueeze(-1)).squeeze(-1)
    return (per_token * logit_mask.to(per_token.dtype)).sum(-1)


class GLMForSingleTokenCloze(_DelegatingHead):
    """Score labels by the logit (or log-prob) of their verbalizer token at position ``sep``
    (the ``[sop]`` that predicts the first token of the blank)."""

    def __init__(self, model: GLMModel, take_softmax: bool = False):
        super().__init__()
        self.model, self.take_softmax = model, take_softmax

    def forward(self, input_ids, position_ids, attention_mask, target_ids, prompt_pos=None):
        logits = self.model(input_ids, position_ids, attention_mask, prompt_pos=prompt_pos)
        sep = torch.as_tensor(attention_mask, device=logits.device).reshape(-1).long()
        sep = sep.expand(input_ids.shape[0]) if sep.numel() == 1 else sep
        rows = torch.arange(input_ids.shape[0], device=logits.device)
        at_sep = gather_from_model_parallel_region(logits[rows, sep]).float()  # (B, V)
        if self.take_softmax:
            at_sep = F.log_softmax(at_sep, dim=-1)
        return at_sep.gather(-1, target_ids), at_sep


class GLMForSequenceClassification(nn.Module):
    """``tanh(pool_layer(h_pool))`` -> dropout -> ``multichoice_head``; the inner model must
    have ``output_predict=False``. ``pool_token``: cls (position 0), start (``sep``), pad
    (``sep - 1``). With a choice dimension ``num_class`` must be 1 and scores are ``[b, C]``."""

    def __init__(
        self,
        model: GLMModel,
        hidden_size: int,
        hidden_dropout: float,
        pool_token: str = "cls",
        num_class: int = 1,
    ):
        super().__init__()
        if model.config.output_predict:
            raise ValueError(
                "GLMForSequenceClassification needs a GLMModel with output_predict=False"
            )
        if pool_token not in ("cls", "start", "pad"):
            raise ValueError(f"--pool-token must be start, pad or cls, got {pool_token!r}")
        self.model, self.pool_token, self.num_class = model, pool_token, num_class
        self.pool_layer = nn.Linear(hidden_size, hidden_size)
        self.dropout = nn.Dropout(hidden_dropout)
        self.multichoice_head = nn.Linear(hidden_size, num_class)

    def forward(self, input_ids, position_ids, attention_mask, prompt_pos=None):
        flat, choices = _flatten_choices(input_ids, position_ids, attention_mask, prompt_pos)
        input_ids, position_ids, attention_mask, prompt_pos = flat
        hidden = self.model(input_ids, position_ids, attention_mask, prompt_pos=prompt_pos)
        sep = torch.as_tensor(attention_mask, device=hidden.device).reshape(-1).long()
        sep = sep.expand(hidden.shape[0]) if sep.numel() == 1 else sep
        index = {"cls": torch.zeros_like(sep), "start": sep, "pad": sep - 1}[self.pool_token]
        pooled = hidden[torch.arange(hidden.shape[0], device=hidden.device), index]
        logits = self.multichoice_head(self.dropout(torch.tanh(self.pool_layer(pooled))))
        return logits.view(choices) if choices is not None else logits


class GLMForMultiTokenClozeFast(_DelegatingHead):
    """``--fast-decode``: encode the context (Part A) once per example, copy its KV cache to
    every candidate, and run only the decoder tokens ``[sop] + answer[:-1]`` of each candidate.
    Scores equal ``GLMForMultiTokenCloze``'s on the same inputs.

    Inputs: context ``input_ids [b, L]``, ``position_ids [b, 2, L]``, ``attention_mask`` = the
    context length ``sep [b]`` (positions past it are padding); decoder rows ``dec_input_ids``,
    ``dec_target_ids``, ``dec_logit_mask`` ``[b, C, D]``, ``dec_position_ids [b, C, 2, D]``.
    """

    def __init__(self, model: GLMModel, take_softmax: bool = True, length_penalty: float = 0.0):
        super().__init__()
        self.model, self.take_softmax, self.length_penalty = model, take_softmax, length_penalty

    def forward(
        self,
        input_ids,
        position_ids,
        attention_mask,
        dec_input_ids,
        dec_position_ids,
        dec_target_ids,
        dec_logit_mask,
        prompt_pos=None,
    ):
        batch, length = input_ids.shape
        choices, dec_length = dec_input_ids.shape[1:]
        sep = torch.as_tensor(attention_mask, device=input_ids.device).reshape(-1).long()
        sep = sep.expand(batch) if sep.numel() == 1 else sep
        cache = self.model.make_kv_cache(batch, length + dec_length)
        slots = torch.arange(length + dec_length, device=input_ids.device)
        cache.set_key_mask((slots < sep.unsqueeze(1)) | (slots >= length))
        self.model(input_ids, position_ids, sep, kv_cache=cache, prompt_pos=prompt_pos)
        cache.reorder(torch.arange(batch, device=input_ids.device).repeat_interleave(choices))
        logits = self.model(
            dec_input_ids.flatten(0, 1), dec_position_ids.flatten(0, 1), 0, kv_cache=cache
        )
        mask = dec_logit_mask.flatten(0, 1)
        scores = score_tokens(logits, dec_target_ids.flatten(0, 1), mask, self.take_softmax)
        if self.length_penalty > 0:
            scores = scores / mask.sum(-1).clamp(min=1) ** self.length_penalty
        return scores.view(batch, choices)
