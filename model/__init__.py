"""The GLM transformer, its attention mask and KV cache, heads, prompt encoder and generation."""

from model.config import GLMConfig
from model.glm import GLMModel
from model.kv_cache import KVCache

__all__ = ["GLMConfig", "GLMModel", "KVCache"]
