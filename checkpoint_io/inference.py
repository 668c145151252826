"""A GLM ready for inference from a checkpoint: this rank's shard, the requested precision.

Used by every tool that runs a model without training it (blank filling, evaluation
harnesses, serving), so they load weights the same way.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from checkpoint_io.state import load_model_checkpoint
from model import GLMConfig, GLMModel
from mpu import get_model_parallel_rank, get_model_parallel_world_size

logger = logging.getLogger(__name__)


def inference_dtype(fp16: bool, bf16: bool, device: torch.device) -> torch.dtype:
    """``--bf16`` / ``--fp16`` as a dtype; fp16 only on GPUs (CPU kernels lack it)."""
    if bf16:
        return torch.bfloat16
    if fp16 and device.type == "cuda":
        return torch.float16
    if fp16:
        logger.info("--fp16 is for GPUs: running on CPU in fp32")
    return torch.float32


def load_inference_model(
    config: GLMConfig,
    path: str | Path,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    decoding: bool = False,
    verify: bool = True,
) -> GLMModel:
    """``GLMModel(config)`` with this tensor-parallel rank's shard of the checkpoint at ``path``,
    on ``device`` in ``dtype``, in eval mode. The model is built on the meta device and filled
    one group of tensors at a time straight in ``dtype``: the weights are held once, never in
    fp32 first, and only this rank's shard is read. ``decoding``: lay the weights out for
    token-by-token decoding on CPU (``GLMModel.use_decoding_layout``). ``verify``: check the
    shard's checksum against the checkpoint's manifest (``--no-verify-checkpoint`` skips it)."""
    with torch.device("meta"):
        model = GLMModel(config, seed=None)
    if decoding and device.type == "cpu":
        model.use_decoding_layout()  # the weights are then read straight into that layout
    load_model_checkpoint(
        model,
        path,
        tp_rank=get_model_parallel_rank(),
        tp_world=get_model_parallel_world_size(),
        verify=verify,
        dtype=dtype,
        device=device,
    )
    return model.eval()
