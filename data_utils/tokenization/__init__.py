"""GLM tokenizers: exact GLM token ids on fast backends.

glm_tokenizer.py  TokenizerConfig, GLMTokenizer (command tokens, padding), build_tokenizer
backends.py       the text encoders: byte-level BPE, WordPiece, SentencePiece
tables.py         GLM's command-token tables and vocabulary padding per tokenizer type
"""

from data_utils.tokenization.glm_tokenizer import (
    SENTENCE_END_CHARS,
    TOKENIZER_TYPES,
    CommandToken,
    GLMTokenizer,
    TokenizerConfig,
    build_tokenizer,
    train_byte_bpe,
)

__all__ = [
    "SENTENCE_END_CHARS",
    "TOKENIZER_TYPES",
    "CommandToken",
    "GLMTokenizer",
    "TokenizerConfig",
    "build_tokenizer",
    "train_byte_bpe",
]
