"""The token store: a corpus as memory-mapped token ids with document and sentence boundaries.

A store is a directory:

```
header.json            format, version, dtypes, counts, tokenizer identity, preprocessing stats
tokens.bin             every document's token ids back to back (uint8/16/32, little-endian)
doc_offsets.bin        int64 [documents + 1]: document i is tokens[doc_offsets[i]:doc_offsets[i+1]]
sentence_offsets.bin   int64 [sentences]: token index where each sentence starts (sorted)
prompt_lengths.bin     uint32 [documents]: leading prompt tokens of each document (loss mask 0)
```

Documents carry no end-of-document token; datasets append `eos` when packing. The writer
builds the store under a temporary name and renames it into place only when complete, so an
interrupted run never leaves a store that looks valid. The bytes depend only on the documents
and the header fields, so re-running the same preprocessing gives an identical store.
"""

import hashlib
import json
from pathlib import Path

import numpy as np

from common.atomic import atomic_folder

FORMAT = "glm-token-store"
VERSION = 1
_FILES = ("tokens.bin", "doc_offsets.bin", "sentence_offsets.bin", "prompt_lengths.bin")
# Command tokens whose ids do not depend on tokenizer flags; the flag-dependent ones
# (sop, eop, gMASK, sMASK, dBLOCK, sentinels) never occur in preprocessed text.
_STABLE_COMMANDS = ("pad", "eos", "ENC", "MASK", "sep", "unk")
_PROBE = "Hello World! THE quick brown fox, 2024. Ünïcödé — 你好，世界。"


def token_dtype(num_tokens: int) -> np.dtype:
    """The smallest unsigned integer type that holds ids `0 .. num_tokens - 1`."""
    for dtype in (np.uint8, np.uint16, np.uint32):
        if num_tokens <= np.iinfo(dtype).max + 1:
            return np.dtype(dtype)
    raise ValueError(f"vocabulary of {num_tokens} tokens does not fit in uint32")


def _token_string(tokenizer, i: int) -> str:
    try:
        return tokenizer.id_to_token(i)
    except ValueError:  # an unused id (e.g. 50005 of the Chinese vocabulary)
        return ""


def tokenizer_fingerprint(tokenizer) -> str:
    """A hash of what the stored ids mean: the text vocabulary, stable command ids, casing."""
    commands = {c.name: c.id for c in tokenizer.command_tokens}
    flag_dependent = {i for name, i in commands.items() if name not in _STABLE_COMMANDS}
    digest = hashlib.sha256()
    for i in range(tokenizer.num_tokens):
        if i not in flag_dependent:
            digest.update(f"{i}\t{_token_string(tokenizer, i)}\n".encode())
    stable = sorted((n, i) for n, i in commands.items() if n in _STABLE_COMMANDS)
    digest.update(json.dumps([stable, tokenizer.encode(_PROBE)]).encode())
    return digest.hexdigest()


class TokenStoreWriter:
    """Streams documents into a new store; use as a context manager.

    `with TokenStoreWriter(path, dtype, tokenizer_info) as w: w.add(...)` publishes the store on
    a clean exit and deletes the partial one on any exception (including Ctrl-C).
    """

    def __init__(self, path: str | Path, dtype: np.dtype, tokenizer: dict, overwrite: bool = False):
        self.path = Path(path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(f"{self.path} exists: pass --overwrite to replace it")
        self.dtype = np.dtype(dtype)
        self._disk_dtype = self.dtype.newbyteorder("<")
        self.tokenizer = tokenizer  # {"name": ..., "fingerprint": ...} (see tokenizer_fingerprint)
        self.stats: dict = {}  # preprocessing statistics for the header; set before the exit
        self._folder = atomic_folder(self.path, replace=True)
        self._tmp = self.path
        self._files = {}
        self._tokens = 0
        self._documents = 0
        self._sentences = 0

    def __enter__(self) -> "TokenStoreWriter":
        self._tmp = self._folder.__enter__()
        self._files = {name: open(self._tmp / name, "wb") for name in _FILES}  # noqa: SIM115
        self._files["doc_offsets.bin"].write(np.zeros(1, dtype="<i8").tobytes())
        return self

    def add(self, tokens: np.ndarray, sentence_starts: np.ndarray, prompt_length: int = 0) -> None:
        """Append one document; `sentence_starts` are relative to it (the first is 0)."""
        self._files["tokens.bin"].write(np.asarray(tokens).astype(self._disk_dtype).tobytes())
        starts = np.asarray(sentence_starts, dtype="<i8") + self._tokens
        self._files["sentence_offsets.bin"].write(starts.tobytes())
        self._tokens += len(tokens)
        self._documents += 1
        self._sentences += len(starts)
        self._files["doc_offsets.bin"].write(np.array([self._tokens], dtype="<i8").tobytes())
        self._files["prompt_lengths.bin"].write(np.array([prompt_length], dtype="<u4").tobytes())

    def __exit__(self, exc_type, exc, tb) -> bool:
        for f in self._files.values():
            f.close()
        if exc_type is None:
            self._write_header()
        return self._folder.__exit__(exc_type, exc, tb)

    def _write_header(self) -> None:
        header = {
            "format": FORMAT,
            "version": VERSION,
            "dtype": self.dtype.name,
            "num_documents": self._documents,
            "num_tokens": self._tokens,
            "num_sentences": self._sentences,
            "tokenizer": self.tokenizer,
            "stats": self.stats,
        }
        (self._tmp / "header.json").write_text(json.dumps(header, indent=1, sort_keys=True) + "\n")


class TokenStore:
    """A token store opened read-only; arrays are memory-mapped, nothing is loaded eagerly."""

    def __init__(self, path: str | Path, fingerprint: str | None = None) -> None:
        self.path = Path(path)
        header_file = self.path / "header.json"
        if not header_file.is_file():
            raise FileNotFoundError(
                f"{self.path} is not a token store (no header.json): build it with "
                "scripts/preprocess_data.py"
            )
        self.header = json.loads(header_file.read_text())
        if self.header.get("format") != FORMAT or self.header.get("version") != VERSION:
            raise ValueError(
                f"{self.path} has format {self.header.get('format')} version "
                f"{self.header.get('version')}, expected {FORMAT} version {VERSION}: "
                "re-run preprocessing"
            )
        if fingerprint is not None and fingerprint != self.header["tokenizer"]["fingerprint"]:
            raise ValueError(
                f"{self.path} was built with tokenizer {self.header['tokenizer']['name']} "
                "whose vocabulary differs from this run's: re-run preprocessing with the same "
                "--tokenizer-type/--tokenizer-model-type/--tokenizer-path"
            )
        self.tokens = self._map("tokens.bin", self.header["dtype"], self.header["num_tokens"])
        self.doc_offsets = self._map("doc_offsets.bin", "<i8", self.header["num_documents"] + 1)
        self.sentence_offsets = self._map(
            "sentence_offsets.bin", "<i8", self.header["num_sentences"]
        )
        self.prompt_lengths = self._map("prompt_lengths.bin", "<u4", self.header["num_documents"])

    def _map(self, name: str, dtype: str, count: int) -> np.ndarray:
        file = self.path / name
        expected = count * np.dtype(dtype).itemsize
        if not file.is_file() or file.stat().st_size != expected:
            raise ValueError(f"{file} is missing or truncated (expected {expected} bytes)")
        if count == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(file, dtype=dtype, mode="r", shape=(count,))

    def __len__(self) -> int:
        return len(self.doc_offsets) - 1

    @property
    def document_lengths(self) -> np.ndarray:
        return np.diff(self.doc_offsets)

    def document(self, i: int) -> np.ndarray:
        return self.tokens[self.doc_offsets[i] : self.doc_offsets[i + 1]]

    def loss_mask(self, i: int) -> np.ndarray:
        """0 on the document's prompt tokens, 1 on its text."""
        mask = np.ones(self.doc_offsets[i + 1] - self.doc_offsets[i], dtype=np.uint8)
        mask[: self.prompt_lengths[i]] = 0
        return mask

    def sentence_starts(self, i: int) -> np.ndarray:
        """Token indices (within document i) where its sentences start."""
        lo, hi = self.doc_offsets[i], self.doc_offsets[i + 1]
        a, b = np.searchsorted(self.sentence_offsets, [lo, hi])
        return self.sentence_offsets[a:b] - lo
