"""GLM tokenizers: exact GLM token ids on fast backends.

`build_tokenizer(TokenizerConfig(...))` returns a `GLMTokenizer` for one of

- `BertWordPieceTokenizer`  (`bert-base-uncased`, `bert-large-uncased`; cased types keep case),
- `GPT2BPETokenizer`        (`gpt2`, the default, or `roberta`),
- `ChineseSPTokenizer`      (GLM's SentencePiece model, with or without `fix_command_token`),
- `ByteBPETokenizer`        (a byte-level BPE you train on your own text, see `train_byte_bpe`),

reading its vocab files from `tokenizer_path`. Encoding splits the text on command-token strings
(`[MASK]`, `[gMASK]`, `<|endoftext|>`, ...), which become their ids; mask tokens marked `lstrip`
swallow the whitespace before them; every other segment goes through the text backend on its own.
This gives the same ids as GLM's `EncodeAsIds` (spec §3), so released checkpoints see the inputs
they were trained on.
"""

import re
from dataclasses import dataclass
from itertools import chain
from pathlib import Path
from typing import Protocol

import numpy as np

from data_utils.tokenization.backends import (
    ByteLevelBPEBackend,
    SentencePieceBackend,
    WordPieceBackend,
    train_byte_bpe,
)
from data_utils.tokenization.tables import (
    CommandToken,
    bert_command_tokens,
    chinese_command_tokens,
    gpt2_command_tokens,
    padded_vocab_size,
    roberta_command_tokens,
)

__all__ = ["CommandToken", "GLMTokenizer", "TokenizerConfig", "build_tokenizer", "train_byte_bpe"]

TOKENIZER_TYPES = (
    "BertWordPieceTokenizer",
    "GPT2BPETokenizer",
    "ChineseSPTokenizer",
    "ByteBPETokenizer",
)
SENTENCE_END_CHARS = ".?!;:。？！；…\n"


@dataclass(frozen=True)
class TokenizerConfig:
    """The tokenizer flags (`--tokenizer-type`, `--tokenizer-model-type`, `--tokenizer-path`, ...).

    `block_mask` is set when `--block-mask-prob > 0` or `--context-mask-ratio > 0`.
    `fix_command_token` matters only for ChineseSPTokenizer, `sentinel_token` only for BERT,
    which then gets `max_position_embeddings - 1` sentinel pairs.
    """

    tokenizer_type: str = "BertWordPieceTokenizer"
    tokenizer_model_type: str | None = None
    tokenizer_path: str | None = None
    block_lm: bool = True
    task_mask: bool = False
    fix_command_token: bool = False
    block_mask: bool = False
    sentinel_token: bool = False
    max_position_embeddings: int = 512
    make_vocab_size_divisible_by: int = 128


class TextBackend(Protocol):
    """What `GLMTokenizer` needs from a text encoder (see backends.py)."""

    vocab_size: int

    def encode(self, text: str) -> list[int]: ...
    def encode_batch(self, texts: list[str]) -> list[list[int]]: ...
    def id_to_token(self, i: int) -> str: ...
    def token_to_id(self, token: str) -> int | None: ...
    def surface(self, i: int) -> str: ...
    def decode(self, ids: list[int], command_strings: dict[int, str]) -> str: ...


_HINTS = {
    "gMASK": "--task-mask",
    "sMASK": "--task-mask",
    "dBLOCK": "--block-mask-prob > 0 or --context-mask-ratio > 0",
}


class GLMTokenizer:
    """Text <-> ids with GLM's command tokens; build it with `build_tokenizer`."""

    def __init__(
        self,
        backend: TextBackend,
        command_tokens: list[CommandToken],
        num_tokens: int,
        make_vocab_size_divisible_by: int,
    ) -> None:
        self._backend = backend
        self.command_tokens = list(command_tokens)
        self.num_tokens = num_tokens
        self.vocab_size = padded_vocab_size(num_tokens, make_vocab_size_divisible_by)
        self._by_name = {c.name: c for c in command_tokens}
        # Later tokens win on shared strings and ids, as in GLM: RoBERTa's id 2 reads "[SEP]",
        # Chinese 50007 reads "[gMASK]" without --fix-command-token.
        self._string_to_id = {c.token: c.id for c in command_tokens}
        self._id_to_string = {c.id: c.token for c in command_tokens}
        self._lstrip = {c.token for c in command_tokens if c.lstrip}
        # No command string overlaps or contains another (all are bracketed), so one
        # alternation finds exactly the occurrences GLM's token-by-token splitting finds.
        strings = sorted(self._string_to_id, key=len, reverse=True)
        self._split_re = re.compile("(" + "|".join(map(re.escape, strings)) + ")")
        # text without any command string's first character skips splitting (the fast path)
        self._may_hold_command = re.compile("[" + re.escape("".join({s[0] for s in strings})) + "]")
        self._sentence_end: np.ndarray | None = None

    def get_command(self, name: str) -> CommandToken:
        if name not in self._by_name:
            hint = _HINTS.get(name, "--sentinel-token" if name[-1].isdigit() else "--block-lm")
            raise ValueError(f"command token {name!r} is not defined for this tokenizer: {hint}")
        return self._by_name[name]

    def _optional_id(self, name: str) -> int | None:
        return self._by_name[name].id if name in self._by_name else None

    @property
    def eos_id(self) -> int:
        return self.get_command("eos").id

    @property
    def pad_id(self) -> int:
        return self.get_command("pad").id

    @property
    def sop_id(self) -> int:
        return self.get_command("sop").id

    @property
    def eop_id(self) -> int:
        return self.get_command("eop").id

    @property
    def cls_id(self) -> int:
        return self.get_command("ENC").id

    @property
    def mask_id(self) -> int:
        return self.get_command("MASK").id

    @property
    def gmask_id(self) -> int | None:
        return self._optional_id("gMASK")

    @property
    def smask_id(self) -> int | None:
        return self._optional_id("sMASK")

    @property
    def dblock_id(self) -> int | None:
        return self._optional_id("dBLOCK")

    @property
    def blank_mask_ids(self) -> tuple[int, ...]:
        """Ids that mark a blank to fill: [MASK], plus [sMASK] and [gMASK] when defined."""
        optional = (self.smask_id, self.gmask_id)
        return (self.mask_id, *(i for i in optional if i is not None))

    def _has_command(self, text: str) -> bool:
        return self._may_hold_command.search(text) is not None

    def _split(self, text: str) -> list[str | int]:
        """Text segments and command ids in order; segments before lstrip tokens right-stripped."""
        parts = self._split_re.split(text)  # [text, command, text, command, ..., text]
        pieces: list[str | int] = []
        for k in range(0, len(parts) - 1, 2):
            segment, command = parts[k], parts[k + 1]
            if command in self._lstrip:
                segment = segment.rstrip()
            if segment:
                pieces.append(segment)
            pieces.append(self._string_to_id[command])
        if parts[-1]:
            pieces.append(parts[-1])
        return pieces

    def encode(self, text: str) -> list[int]:
        """GLM's `EncodeAsIds(text).tokenization`; empty or all-whitespace text gives []."""
        if self._is_plain(text):
            return self._backend.encode(text)
        return self.encode_batch([text])[0]

    def _is_plain(self, text: str) -> bool:
        """Non-blank text without command strings: the backend's ids are the answer."""
        return bool(text) and not text.isspace() and not self._has_command(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        """`[encode(t) for t in texts]`, with every text segment in one backend call."""
        if all(map(self._is_plain, texts)):
            return self._backend.encode_batch(texts) if texts else []
        segments: list[str] = []
        plans: list[list[int]] = []  # per text: segment index >= 0, or ~id for a command id
        for text in texts:
            pieces = self._split(text) if text and not text.isspace() else []
            plan = []
            for piece in pieces:
                if isinstance(piece, int):
                    plan.append(~piece)
                else:
                    plan.append(len(segments))
                    segments.append(piece)
            plans.append(plan)
        encoded = self._backend.encode_batch(segments) if segments else []
        return [
            list(chain.from_iterable(encoded[p] if p >= 0 else (~p,) for p in plan))
            for plan in plans
        ]

    def _check_id(self, i: int) -> None:
        if i not in self._id_to_string and not 0 <= i < self._backend.vocab_size:
            raise ValueError(
                f"id {i} is not a token of this tokenizer (num_tokens {self.num_tokens})"
            )

    def decode(self, ids: list[int] | np.ndarray) -> str:
        """GLM's `DecodeIds`: command ids are spelled as their strings (e.g. `[MASK]`)."""
        ids = [int(i) for i in ids]
        for i in ids:
            self._check_id(i)
        return self._backend.decode(ids, self._id_to_string)

    def id_to_token(self, i: int) -> str:
        self._check_id(i)
        return self._id_to_string[i] if i in self._id_to_string else self._backend.id_to_token(i)

    def token_to_id(self, token: str) -> int:
        if token in self._string_to_id:
            return self._string_to_id[token]
        i = self._backend.token_to_id(token)
        if i is None:
            raise ValueError(f"token {token!r} is not in the vocabulary")
        return i

    def sentence_end_table(self) -> np.ndarray:
        """Read-only bool array [num_tokens]: does token i's text hold a sentence end (spec §7.2)?

        A byte-level token's text is its decoded bytes, so `Ċ` (newline) and `ãĢĤ` (。) count;
        GLM tested the byte-level spelling, where they did not (one predicate for the whole
        pipeline fixes spec §17.19). SentencePiece and WordPiece tokens are tested as spelled.
        """
        if self._sentence_end is None:
            pattern = re.compile("[" + re.escape(SENTENCE_END_CHARS) + "]")
            table = np.zeros(self.num_tokens, dtype=bool)
            for i in range(min(self._backend.vocab_size, self.num_tokens)):
                table[i] = pattern.search(self._backend.surface(i)) is not None
            for i, string in self._id_to_string.items():
                table[i] = pattern.search(string) is not None
            table.flags.writeable = False
            self._sentence_end = table
        return self._sentence_end


def _vocab_file(folder: Path, name: str, holds: str) -> Path:
    path = folder / name
    if not path.is_file():
        raise FileNotFoundError(
            f"vocab file {path} not found: --tokenizer-path must point to a folder holding {holds}"
        )
    return path


def _build_bert(cfg: TokenizerConfig, folder: Path) -> tuple[TextBackend, list, int]:
    model_type = cfg.tokenizer_model_type or "bert-large-uncased"
    if not model_type.startswith("bert-"):
        raise ValueError(
            f"--tokenizer-model-type {model_type} is not a BERT vocabulary: "
            "use bert-base-uncased or bert-large-uncased"
        )
    name = f"{model_type}-vocab.txt"
    if model_type == "bert-large-uncased" and not (folder / name).is_file():
        name = "bert-base-uncased-vocab.txt"  # the two files are identical
    vocab_txt = _vocab_file(folder, name, name)
    lower = "-cased" not in model_type and "chinese" not in model_type
    backend = WordPieceBackend.from_vocab_file(vocab_txt, lower_case=lower)
    specials = {s: backend.token_to_id(s) for s in ("[PAD]", "[CLS]", "[MASK]", "[UNK]", "[SEP]")}
    missing = [s for s, i in specials.items() if i is None]
    if missing:
        raise ValueError(f"vocab file {vocab_txt} lacks {missing[0]}: it is not a BERT vocabulary")
    pairs = cfg.max_position_embeddings - 1 if cfg.sentinel_token else 0
    commands, num = bert_command_tokens(
        specials, backend.vocab_size, cfg.block_lm, cfg.task_mask, cfg.block_mask, pairs
    )
    return backend, commands, num


def _build_gpt2(cfg: TokenizerConfig, folder: Path) -> tuple[TextBackend, list, int]:
    model_type = cfg.tokenizer_model_type or "gpt2"
    if model_type not in ("gpt2", "roberta"):
        raise ValueError(f"--tokenizer-model-type {model_type} is not gpt2 or roberta")
    holds = f"{model_type}-vocab.json and gpt2-merges.txt"
    vocab_json = _vocab_file(folder, f"{model_type}-vocab.json", holds)
    merges = folder / f"{model_type}-merges.txt"
    if not merges.is_file():
        merges = _vocab_file(folder, "gpt2-merges.txt", holds)
    backend = ByteLevelBPEBackend.from_vocab_files(vocab_json, merges)
    flags = (cfg.block_lm, cfg.task_mask, cfg.block_mask)
    if model_type == "gpt2":
        eot = backend.token_to_id("<|endoftext|>")
        commands, num = gpt2_command_tokens(eot, backend.vocab_size, *flags)
        return backend, commands, num
    names = ("<s>", "</s>", "<unk>", "<mask>")
    commands, num = roberta_command_tokens(
        {s: backend.token_to_id(s) for s in names}, backend.vocab_size, *flags
    )
    return backend, commands, num


def _build_chinese(cfg: TokenizerConfig, folder: Path) -> tuple[TextBackend, list, int]:
    backend = SentencePieceBackend(_vocab_file(folder, "cog-pretrain.model", "cog-pretrain.model"))
    commands, num = chinese_command_tokens(
        backend.vocab_size, cfg.block_lm, cfg.task_mask, cfg.block_mask, cfg.fix_command_token
    )
    return backend, commands, num


def _build_byte_bpe(cfg: TokenizerConfig, folder: Path) -> tuple[TextBackend, list, int]:
    holds = "tokenizer.json (train one with scripts/train_tokenizer.py)"
    path = _vocab_file(folder, "tokenizer.json", holds)
    backend = ByteLevelBPEBackend.from_json(path)
    eot = backend.token_to_id("<|endoftext|>")
    if eot is None:
        raise ValueError(f"{path} has no <|endoftext|> token: train it with train_byte_bpe")
    flags = (cfg.block_lm, cfg.task_mask, cfg.block_mask)
    commands, num = gpt2_command_tokens(eot, backend.vocab_size, *flags)
    return backend, commands, num


_BUILDERS = {
    "BertWordPieceTokenizer": _build_bert,
    "GPT2BPETokenizer": _build_gpt2,
    "ChineseSPTokenizer": _build_chinese,
    "ByteBPETokenizer": _build_byte_bpe,
}


def build_tokenizer(cfg: TokenizerConfig) -> GLMTokenizer:
    """The tokenizer `cfg` describes, reading its vocab files from `cfg.tokenizer_path`."""
    if cfg.tokenizer_type not in _BUILDERS:
        raise ValueError(
            f"--tokenizer-type {cfg.tokenizer_type} is not supported: use one of "
            + ", ".join(TOKENIZER_TYPES)
        )
    if cfg.sentinel_token and cfg.tokenizer_type != "BertWordPieceTokenizer":
        raise ValueError("--sentinel-token needs --tokenizer-type BertWordPieceTokenizer")
    if cfg.make_vocab_size_divisible_by < 1:
        raise ValueError(
            f"--make-vocab-size-divisible-by {cfg.make_vocab_size_divisible_by} must be >= 1"
        )
    if cfg.tokenizer_path is None:
        raise ValueError(
            f"--tokenizer-path is not set: {cfg.tokenizer_type} needs the folder of its vocab files"
        )
    folder = Path(cfg.tokenizer_path)
    if not folder.is_dir():
        raise FileNotFoundError(f"--tokenizer-path {folder} is not a folder: give the vocab folder")
    backend, commands, num_tokens = _BUILDERS[cfg.tokenizer_type](cfg, folder)
    return GLMTokenizer(backend, commands, num_tokens, cfg.make_vocab_size_divisible_by)
