"""Hugging Face configuration of a GLM model (blank-infilling GLM, not GLM-4).

This file is copied into exported model folders and loaded with ``trust_remote_code=True``;
it depends on transformers only. The fields mirror the constructor of GLM's ``GLMModel`` in
the layout of the THUDM glm Hugging Face repositories, so their ``config.json`` files load too.
"""

from transformers import PretrainedConfig


class GLMConfig(PretrainedConfig):
    """GLM hyper-parameters; ``vocab_size`` is the padded vocabulary (a multiple of 128)."""

    model_type = "glm"
    attribute_map = {
        "num_hidden_layers": "num_layers",
        "max_position_embeddings": "max_sequence_length",
    }

    num_layers: int = 24
    vocab_size: int = 30592
    hidden_size: int = 1024
    num_attention_heads: int = 16
    intermediate_size: int | None = None  # None: 4 * hidden_size, as in every released GLM
    embedding_dropout_prob: float = 0.1
    attention_dropout_prob: float = 0.1
    output_dropout_prob: float = 0.1
    max_sequence_length: int = 512
    max_memory_length: int = 0
    checkpoint_activations: bool = False
    checkpoint_num_layers: int = 1
    parallel_output: bool = True
    relative_encoding: bool = False
    block_position_encoding: bool = True
    output_predict: bool = True
    spell_length: int | None = None
    spell_func: str = "lstm"
    attention_scale: float = 1.0
    initializer_range: float = 0.02
    layernorm_epsilon: float = 1e-5
    pool_token: str = "cls"
