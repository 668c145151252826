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


def is_token_store(path: str | Path) -> bool:
    """Whether ``path`` is a folder this module wrote (its header says so)."""
    try:
        header = json.loads((Path(path) / "header.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return isinstance(header, dict) and header.get("format") == FORMAT


def check_replaceable(path: Path, overwrite: bool) -> None:
    """A new store may go to ``path``: nothing is there, or (with ``overwrite``) a token store.

    ``--overwrite`` replaces only what preprocessing made; anything else at ``path`` is a
    user's and stays.
    """
    if not path.exists() and not path.is_symlink():
        return
    if path.is_dir() and not path.is_symlink() and not any(path.iterdir()):
        return  # an empty folder made ready for the store: nothing to lose
    if not is_token_store(path) or path.is_symlink():
        what = "a file" if not path.is_dir() else "a folder"
        if path.is_dir():
            names = sorted(p.name for p in path.iterdir())[:3]
            what += f" holding {', '.join(names)}" if names else " (empty)"
        raise FileExistsError(
            f"--output {path} exists and is not a token store ({what}): --overwrite replaces "
            "only a token store; choose another --output (or remove it yourself)"
        )
    if not overwrite:
        raise FileExistsError(f"--output {path} exists: pass --overwrite to replace it")


class TokenStoreWriter:
    """Streams documents into a new store; use as a context manager.

    `with TokenStoreWriter(path, dtype, tokenizer_info) as w: w.add(...)` publishes the store on
    a clean exit and deletes the partial one on any exception (including Ctrl-C).
    """

    def __init__(self, path: str | Path, dtype: np.dtype, tokenizer: dict, overwrite: bool = False):
        self.path = Path(path)
        check_replaceable(self.path, overwrite)
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


_REBUILD = "rebuild the store with scripts/preprocess_data.py"
_HEADER_FIELDS = {
    "format": str,
    "version": int,
    "dtype": str,
    "num_documents": int,
    "num_tokens": int,
    "num_sentences": int,
    "tokenizer": dict,
}


def read_header(path: Path) -> dict:
    """The header of the store at ``path``, checked: one line naming what is wrong."""
    header_file = path / "header.json"
    if not header_file.is_file():
        kind = "a folder" if path.is_dir() else "not a folder"
        raise FileNotFoundError(
            f"{path} is not a token store ({kind} without header.json): build it with "
            "scripts/preprocess_data.py"
        )
    try:
        header = json.loads(header_file.read_text(encoding="utf-8"))
    except ValueError as error:
        raise ValueError(f"{header_file} is not valid JSON ({error}): {_REBUILD}") from None
    if not isinstance(header, dict):
        raise ValueError(f"{header_file} does not hold a JSON object: {_REBUILD}")
    if header.get("format") != FORMAT or header.get("version") != VERSION:
        raise ValueError(
            f"{path} has format {header.get('format')} version {header.get('version')}, "
            f"expected {FORMAT} version {VERSION}: re-run preprocessing"
        )
    for key, kind in _HEADER_FIELDS.items():
        if not isinstance(header.get(key), kind) or (kind is int and header[key] < 0):
            raise ValueError(f"{header_file} lacks a valid {key}: {_REBUILD}")
    if header["dtype"] not in ("uint8", "uint16", "uint32"):
        raise ValueError(f"{header_file} has token dtype {header['dtype']!r}: {_REBUILD}")
    return header


def _first_descent(values: np.ndarray, chunk: int = 1 << 24) -> int | None:
    """The first index ``i`` with ``values[i] < values[i - 1]``, read in chunks (the array may
    be a memory map larger than memory)."""
    for start in range(0, max(len(values) - 1, 0), chunk):
        window = np.asarray(values[start : start + chunk + 1])
        down = np.flatnonzero(window[1:] < window[:-1])
        if len(down):
            return start + int(down[0]) + 1
    return None


class TokenStore:
    """A token store opened read-only; arrays are memory-mapped, nothing is loaded eagerly."""

    def __init__(self, path: str | Path, fingerprint: str | None = None) -> None:
        self.path = Path(path)
        self.header = read_header(self.path)
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
        self._check_offsets()

    def _map(self, name: str, dtype: str, count: int) -> np.ndarray:
        """The file memory-mapped, after checking its size: a short file would be a SIGBUS
        in whichever process first touches its missing pages."""
        file = self.path / name
        expected = count * np.dtype(dtype).itemsize
        if not file.is_file():
            raise FileNotFoundError(f"{file} is missing: {_REBUILD}")
        if file.stat().st_size != expected:
            raise ValueError(
                f"{file} is truncated or damaged: {file.stat().st_size} bytes where its header "
                f"says {expected}: {_REBUILD}"
            )
        if count == 0:
            return np.zeros(0, dtype=dtype)
        return np.memmap(file, dtype=dtype, mode="r", shape=(count,))

    def _check_offsets(self) -> None:
        """Offsets that index outside the tokens would give wrong samples, silently."""
        docs, num_tokens = self.doc_offsets, self.header["num_tokens"]
        bad = _first_descent(docs)
        if docs[0] != 0 or docs[-1] != num_tokens or bad is not None:
            where = f"at document {bad}" if bad is not None else "at the ends"
            raise ValueError(
                f"{self.path / 'doc_offsets.bin'} is damaged (offsets out of order {where}; "
                f"they must rise from 0 to {num_tokens}): {_REBUILD}"
            )
        starts = self.sentence_offsets
        bad = _first_descent(starts)
        if bad is not None or (len(starts) and not 0 <= starts[0] <= starts[-1] < num_tokens):
            raise ValueError(f"{self.path / 'sentence_offsets.bin'} is damaged: {_REBUILD}")
        lengths = np.diff(docs)
        if len(lengths) and (self.prompt_lengths > lengths).any():
            raise ValueError(f"{self.path / 'prompt_lengths.bin'} is damaged: {_REBUILD}")

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
