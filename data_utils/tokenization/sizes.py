"""Vocabulary sizes without reading vocab files, for planning (``scripts/estimate_memory.py``).

The text vocabularies GLM ships with have fixed sizes (spec §3): BERT WordPiece 30522 (uncased;
28996 cased), GPT-2 byte BPE 50257, RoBERTa 50265, GLM's Chinese SentencePiece 50000. The
command tokens come from the same tables the tokenizer uses (``tables.py``), so the count
here is the one ``build_tokenizer`` gives; the padded size rounds it up to a multiple of
``--make-vocab-size-divisible-by`` (not multiplied by the tensor-parallel size, as in GLM).
A byte-level BPE you trained yourself has no fixed size: it is read from its ``tokenizer.json``
or given as ``text_vocab_size``.
"""

from __future__ import annotations

import json
from pathlib import Path

from data_utils.tokenization.glm_tokenizer import TokenizerConfig
from data_utils.tokenization.tables import (
    bert_command_tokens,
    chinese_command_tokens,
    gpt2_command_tokens,
    padded_vocab_size,
    roberta_command_tokens,
)

# (tokenizer type, model type) -> text tokens before GLM's command tokens
TEXT_VOCAB_SIZES = {
    ("BertWordPieceTokenizer", "bert-base-uncased"): 30522,
    ("BertWordPieceTokenizer", "bert-large-uncased"): 30522,
    ("BertWordPieceTokenizer", "bert-base-cased"): 28996,
    ("BertWordPieceTokenizer", "bert-large-cased"): 28996,
    ("GPT2BPETokenizer", "gpt2"): 50257,
    ("GPT2BPETokenizer", "roberta"): 50265,
    ("ChineseSPTokenizer", None): 50000,
}
_DEFAULT_MODEL_TYPE = {"BertWordPieceTokenizer": "bert-large-uncased", "GPT2BPETokenizer": "gpt2"}
# the ids the BERT and RoBERTa tables read from the vocabulary (only the count matters here)
_BERT_SPECIALS = {"[PAD]": 0, "[UNK]": 100, "[CLS]": 101, "[SEP]": 102, "[MASK]": 103}
_ROBERTA_SPECIALS = {"<s>": 0, "</s>": 2, "<unk>": 3, "<mask>": 50264}


def _text_vocab_size(cfg: TokenizerConfig, given: int | None) -> int:
    if given is not None:
        return given
    model_type = cfg.tokenizer_model_type or _DEFAULT_MODEL_TYPE.get(cfg.tokenizer_type)
    known = TEXT_VOCAB_SIZES.get((cfg.tokenizer_type, model_type))
    if known is not None:
        return known
    if cfg.tokenizer_type == "ByteBPETokenizer" and cfg.tokenizer_path is not None:
        path = Path(cfg.tokenizer_path) / "tokenizer.json"
        if path.is_file():
            return _trained_bpe_size(path)
    raise ValueError(
        f"the text vocabulary size of {cfg.tokenizer_type} ({model_type or 'trained'}) is not "
        "known without its files: pass --text-vocab-size N (or --tokenizer-path to a folder "
        "holding tokenizer.json)"
    )


def _trained_bpe_size(path: Path) -> int:
    """Ids of a trained ``tokenizer.json``: its BPE vocabulary plus added tokens beyond it."""
    data = json.loads(path.read_text())
    ids = set(data["model"]["vocab"].values())
    ids.update(token["id"] for token in data.get("added_tokens", []))
    return len(ids)


def vocab_sizes(cfg: TokenizerConfig, text_vocab_size: int | None = None) -> tuple[int, int]:
    """``(num_tokens, padded vocabulary size)`` of the tokenizer ``cfg`` describes."""
    num_text = _text_vocab_size(cfg, text_vocab_size)
    flags = (cfg.block_lm, cfg.task_mask, cfg.block_mask)
    if cfg.tokenizer_type == "BertWordPieceTokenizer":
        pairs = cfg.max_position_embeddings - 1 if cfg.sentinel_token else 0
        _, num = bert_command_tokens(_BERT_SPECIALS, num_text, *flags, pairs)
    elif cfg.tokenizer_type == "ChineseSPTokenizer":
        _, num = chinese_command_tokens(num_text, *flags, cfg.fix_command_token)
    elif (cfg.tokenizer_model_type or "gpt2") == "roberta":
        _, num = roberta_command_tokens(_ROBERTA_SPECIALS, num_text, *flags)
    else:  # GPT-2 and trained byte BPE: <|endoftext|> is the last text id
        _, num = gpt2_command_tokens(num_text - 1, num_text, *flags)
    return num, padded_vocab_size(num, cfg.make_vocab_size_divisible_by)
