"""Hugging Face modeling code of GLM (autoregressive blank infilling), for ``trust_remote_code``.

This file is copied into exported model folders and depends on torch and transformers only.
State-dict keys are GLM's own (``word_embeddings.weight``, ``transformer.layers.N.attention.
query_key_value.weight``, ...) under the ``glm.`` prefix of the THUDM glm repositories.

The model: word embeddings + 2-D positions (position, block position), pre-LayerNorm
transformer layers with a fused ``[Q; K; V]`` projection, a final LayerNorm, and logits from
the tied word embeddings.

``attention_mask`` may be
- ``None``: every token sees every token;
- ``[b]`` (or a scalar): GLM's ``sep``, the Part A length; query ``i`` sees key ``j`` iff
  ``j < sep or j <= i`` (Part A bidirectional, Part B causal);
- ``[b, K]``: a key-padding mask (1 = real token), bidirectional otherwise;
- ``[b, L, K]`` or ``[b, 1, L, K]``: a full mask, nonzero = may attend (what the tokenizer's
  ``build_inputs_for_generation`` / ``build_inputs_for_multiple_choice`` produce).
Cached keys (``past_key_values``) are always visible except where a full mask says otherwise.
"""

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from transformers import GenerationMixin, PreTrainedModel
from transformers.cache_utils import Cache, DynamicCache
from transformers.modeling_outputs import (
    CausalLMOutputWithPast,
    ModelOutput,
    MultipleChoiceModelOutput,
)

from .configuration_glm import GLMConfig


def build_visibility(mask, batch: int, length: int, past: int, device) -> torch.Tensor:
    """Any accepted ``attention_mask`` form -> bool ``[b, 1, L, past + L]`` (True = attend)."""
    keys = past + length
    rows = torch.arange(length, device=device).view(1, -1, 1)
    cols = torch.arange(keys, device=device).view(1, 1, -1)
    if mask is None:
        visible = torch.ones(batch, length, keys, dtype=torch.bool, device=device)
    elif mask.dim() <= 1:
        sep = mask.reshape(-1, 1, 1).to(device)
        visible = (cols < past) | (cols - past <= rows) | (cols - past < sep)
        visible = visible.expand(batch, length, keys)
    elif mask.dim() == 2:
        visible = mask[:, -keys:].bool().unsqueeze(1).expand(batch, length, keys)
    else:
        full = mask if mask.dim() == 3 else mask[:, 0]
        visible = full[:, -length:, -keys:].bool()
    # A token always sees itself, so no row is empty (an empty row would give NaNs).
    return (visible | (cols == rows + past)).unsqueeze(1)


class GLMSelfAttention(nn.Module):
    def __init__(self, config: GLMConfig, layer_idx: int):
        super().__init__()
        self.layer_idx = layer_idx
        self.heads = config.num_attention_heads
        self.head_dim = config.hidden_size // config.num_attention_heads
        self.dropout = config.attention_dropout_prob
        self.query_key_value = nn.Linear(config.hidden_size, 3 * config.hidden_size)
        self.dense = nn.Linear(config.hidden_size, config.hidden_size)
        self.output_dropout = nn.Dropout(config.output_dropout_prob)

    def forward(self, x, visible, cache: Cache | None):
        b, length, _ = x.shape
        qkv = self.query_key_value(x).view(b, length, 3, self.heads, self.head_dim)
        query, key, value = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (B, H, L, D)
        if cache is not None:
            key, value = cache.update(key, value, self.layer_idx)
        context = F.scaled_dot_product_attention(
            query, key, value, attn_mask=visible, dropout_p=self.dropout if self.training else 0.0
        )  # (B, H, L, D)
        context = context.transpose(1, 2).reshape(b, length, self.heads * self.head_dim)
        return self.output_dropout(self.dense(context))


class GLMMLP(nn.Module):
    def __init__(self, config: GLMConfig):
        super().__init__()
        inner = config.intermediate_size or 4 * config.hidden_size
        self.dense_h_to_4h = nn.Linear(config.hidden_size, inner)
        self.dense_4h_to_h = nn.Linear(inner, config.hidden_size)
        self.dropout = nn.Dropout(config.output_dropout_prob)

    def forward(self, x):
        return self.dropout(self.dense_4h_to_h(F.gelu(self.dense_h_to_4h(x), approximate="tanh")))


class GLMBlock(nn.Module):
    def __init__(self, config: GLMConfig, layer_idx: int):
        super().__init__()
        eps = config.layernorm_epsilon
        self.input_layernorm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.attention = GLMSelfAttention(config, layer_idx)
        self.post_attention_layernorm = nn.LayerNorm(config.hidden_size, eps=eps)
        self.mlp = GLMMLP(config)

    def forward(self, x, visible, cache):
        x = x + self.attention(self.input_layernorm(x), visible, cache)
        return x + self.mlp(self.post_attention_layernorm(x))


class GLMStack(nn.Module):
    """Position tables, layers and the final LayerNorm: the ``transformer.*`` keys."""

    def __init__(self, config: GLMConfig):
        super().__init__()
        rows = config.max_sequence_length + int(config.block_position_encoding)
        self.block_position_encoding = config.block_position_encoding
        self.embedding_dropout = nn.Dropout(config.embedding_dropout_prob)
        self.position_embeddings = nn.Embedding(rows, config.hidden_size)
        if config.block_position_encoding:
            self.block_position_embeddings = nn.Embedding(rows, config.hidden_size)
        self.layers = nn.ModuleList(GLMBlock(config, i) for i in range(config.num_layers))
        self.final_layernorm = nn.LayerNorm(config.hidden_size, eps=config.layernorm_epsilon)

    def forward(self, hidden, position_ids, visible, cache):
        if self.block_position_encoding:
            positions = self.position_embeddings(position_ids[:, 0])
            positions = positions + self.block_position_embeddings(position_ids[:, 1])
        else:
            positions = self.position_embeddings(position_ids)
        hidden = self.embedding_dropout(hidden + positions)
        for layer in self.layers:
            hidden = layer(hidden, visible, cache)
        return self.final_layernorm(hidden)


@dataclass
class GLMModelOutput(ModelOutput):
    last_hidden_state: torch.FloatTensor | None = None
    logits: torch.FloatTensor | None = None
    past_key_values: Cache | None = None


class GLMPreTrainedModel(PreTrainedModel):
    config_class = GLMConfig
    config: GLMConfig
    base_model_prefix = "glm"
    _no_split_modules = ["GLMBlock"]
    _skip_keys_device_placement = ["past_key_values"]
    _supports_sdpa = True


class GLMModel(GLMPreTrainedModel):
    """The GLM transformer; ``logits`` come from the tied word embeddings."""

    def __init__(self, config: GLMConfig):
        super().__init__(config)
        self.word_embeddings = nn.Embedding(config.vocab_size, config.hidden_size)
        self.transformer = GLMStack(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.word_embeddings

    def set_input_embeddings(self, value):
        self.word_embeddings = value

    def forward(
        self,
        input_ids=None,
        position_ids=None,
        attention_mask=None,
        past_key_values=None,
        use_cache=None,
        **kwargs,
    ) -> GLMModelOutput:
        batch, length = input_ids.shape
        if use_cache and past_key_values is None:
            past_key_values = DynamicCache(config=self.config)
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        if position_ids is None:
            position_ids = self._default_positions(batch, length, past, input_ids.device)
        visible = build_visibility(attention_mask, batch, length, past, input_ids.device)
        hidden = self.transformer(
            self.word_embeddings(input_ids), position_ids, visible, past_key_values
        )
        logits = (
            F.linear(hidden, self.word_embeddings.weight) if self.config.output_predict else None
        )
        return GLMModelOutput(hidden, logits, past_key_values if use_cache else None)

    def _default_positions(self, batch, length, past, device):
        """Positions ``past ...`` and block positions 0: every token in Part A."""
        positions = torch.arange(past, past + length, device=device).expand(batch, length)
        if not self.config.block_position_encoding:
            return positions
        return torch.stack([positions, torch.zeros_like(positions)], dim=1)


class GLMForConditionalGeneration(GLMPreTrainedModel, GenerationMixin):
    """GLM with its LM head (the tied embeddings): blank filling with ``generate`` and the
    teacher-forced loss over ``labels`` (-100 = not scored, no shift: ``labels[t]`` is the
    target of position ``t``)."""

    def __init__(self, config: GLMConfig):
        super().__init__(config)
        self.glm = GLMModel(config)
        self.post_init()

    def get_input_embeddings(self):
        return self.glm.word_embeddings

    def forward(
        self,
        input_ids=None,
        position_ids=None,
        attention_mask=None,
        labels=None,
        past_key_values=None,
        use_cache=None,
        **kwargs,
    ) -> CausalLMOutputWithPast:
        out = self.glm(input_ids, position_ids, attention_mask, past_key_values, use_cache)
        loss = None
        if labels is not None:
            logits = out.logits.float()
            loss = F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100)
        return CausalLMOutputWithPast(
            loss=loss, logits=out.logits, past_key_values=out.past_key_values
        )

    def prepare_inputs_for_generation(
        self,
        input_ids,
        past_key_values=None,
        position_ids=None,
        generation_attention_mask=None,
        attention_mask=None,
        use_cache=True,
        **kwargs,
    ):
        """Feed the tokens not yet in the cache, with their slice of the positions and mask
        that ``tokenizer.build_inputs_for_generation`` prepared for the whole generation."""
        past = past_key_values.get_seq_length() if past_key_values is not None else 0
        length = input_ids.shape[1]
        if position_ids is not None and position_ids.shape[-1] < length:
            raise ValueError(
                f"generation reached {length} tokens but the inputs were built for "
                f"{position_ids.shape[-1]}: raise max_gen_length in "
                "tokenizer.build_inputs_for_generation or lower max_length/max_new_tokens"
            )
        mask = attention_mask
        if generation_attention_mask is not None:
            mask = generation_attention_mask[:, :, past:length, :length]
        return {
            "input_ids": input_ids[:, past:],
            "position_ids": position_ids[..., past:length] if position_ids is not None else None,
            "attention_mask": mask,
            "past_key_values": past_key_values,
            "use_cache": use_cache,
        }

    def _update_model_kwargs_for_generation(self, outputs, model_kwargs, *args, **kwargs):
        # Positions and the full mask were prepared for the whole generation; a key-padding
        # mask grows by the new token.
        model_kwargs["past_key_values"] = outputs.past_key_values
        mask = model_kwargs.get("attention_mask")
        if mask is not None and mask.dim() == 2:
            model_kwargs["attention_mask"] = torch.cat([mask, mask.new_ones(len(mask), 1)], 1)
        return model_kwargs


class GLMForMultipleChoice(GLMPreTrainedModel):
    """Scores each choice by the summed log-probability of its tokens, as GLM's cloze scorer.

    Inputs come from ``tokenizer.build_inputs_for_multiple_choice``: all choices of a sample
    packed in one row, ``choice_ids`` / ``choice_indices`` ``[b, C, T]`` (padding -100 / 0).
    ``logits`` are the scores ``[b, C]``; ``labels`` ``[b]`` give a cross-entropy loss.
    """

    def __init__(self, config: GLMConfig):
        super().__init__(config)
        self.glm = GLMModel(config)
        self.post_init()

    def forward(
        self,
        input_ids=None,
        position_ids=None,
        attention_mask=None,
        choice_ids=None,
        choice_indices=None,
        labels=None,
        **kwargs,
    ) -> MultipleChoiceModelOutput:
        logits = self.glm(input_ids, position_ids, attention_mask).logits
        log_probs = F.log_softmax(logits.float(), dim=-1)  # (B, L, V)
        batch = torch.arange(log_probs.shape[0], device=log_probs.device).view(-1, 1, 1)
        valid = choice_ids != -100
        picked = log_probs[batch, choice_indices, choice_ids.clamp(min=0)]  # (B, C, T)
        scores = (picked * valid).sum(-1)
        scores = scores.masked_fill(~valid.any(-1), float("-inf"))  # padded choices
        loss = F.cross_entropy(scores, labels) if labels is not None else None
        return MultipleChoiceModelOutput(loss=loss, logits=scores)
