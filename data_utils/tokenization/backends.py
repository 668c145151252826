"""Fast text encoders behind the GLM tokenizers: byte-level BPE, WordPiece, SentencePiece.

A backend knows only its text vocabulary (ids `0 .. vocab_size-1`); command tokens are handled by
`GLMTokenizer`, which hands each backend plain text segments and passes the command-id strings
in for decoding. WordPiece runs in Hugging Face `tokenizers` (Rust) and the Chinese model in
`sentencepiece`. Byte-level BPE splits text into GPT-2 words here, with the `regex` module as
GLM does (ASCII text through an equivalent, faster `re` pattern), and runs each unseen word
through the `tokenizers` BPE model; caches of chunk and word ids in front of it make repeated
text a dictionary lookup.
"""

import re
from collections.abc import Iterable, Sequence
from functools import cached_property
from itertools import chain
from pathlib import Path

import regex
import sentencepiece as spm
from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers

# GPT-2's pre-tokenizer, run by the `regex` module exactly as GLM runs it (Hugging Face's own
# regex engine disagrees with it on a few letters of recent Unicode versions).
GPT2_SPLIT = regex.compile(
    r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"""
)

# A coarser split whose boundaries GPT2_SPLIT's words never cross: chunks are non-space runs with
# at most one leading space, and whitespace runs cut exactly where GPT-2 cuts them. Known chunks
# cost one fast `re` match and one lookup. The class is exactly the `regex` module's \s, which
# differs from `re`'s (tests/test_tokenization_byte_bpe.py checks both facts).
_WS_CHARS = frozenset("\t\n\x0b\x0c\r \x85\xa0\u1680\u2028\u2029\u202f\u205f\u3000").union(
    map(chr, range(0x2000, 0x200B))
)
_WS = re.escape("".join(sorted(_WS_CHARS)))
CHUNK_SPLIT = re.compile(f" ?[^{_WS}]+|[{_WS}]+(?![^{_WS}])|[{_WS}]+")

# GPT2_SPLIT restricted to ASCII text, where letters, digits and whitespace are plain classes, in
# the faster `re` engine (tests/test_tokenization_byte_bpe.py checks every ASCII character).
_ASCII_WS = "\t\n\x0b\x0c\r "
ASCII_SPLIT = re.compile(
    "'s|'t|'re|'ve|'m|'ll|'d| ?[A-Za-z]+| ?[0-9]+"
    f"| ?[^{_ASCII_WS}A-Za-z0-9]+|[{_ASCII_WS}]+(?![^{_ASCII_WS}])|[{_ASCII_WS}]+"
)

# Each cache is emptied when full, which bounds it to about 50 MB; long strings rarely repeat.
_CACHE_ENTRIES = 1 << 18
_CACHE_MAX_CHARS = 64


def _bytes_to_unicode() -> dict[int, str]:
    """GPT-2's reversible byte -> character map used to spell byte-level tokens.

    Printable Latin-1 bytes stand for themselves; every other byte, in byte order, gets the next
    character from U+0100 on (so a space is `Ġ` and a newline `Ċ`).
    """
    printable = [
        *range(ord("!"), ord("~") + 1),
        *range(ord("¡"), ord("¬") + 1),
        *range(ord("®"), ord("ÿ") + 1),
    ]
    mapping = {b: chr(b) for b in printable}
    for b in range(256):
        if b not in mapping:
            mapping[b] = chr(256 + len(mapping) - len(printable))
    return mapping


_BYTE_TO_CHAR = _bytes_to_unicode()
# str.translate tables between a Latin-1 view of raw bytes and their byte-level characters
_SPELL_BYTES = str.maketrans({chr(b): c for b, c in _BYTE_TO_CHAR.items()})
_UNSPELL_BYTES = str.maketrans({c: chr(b) for b, c in _BYTE_TO_CHAR.items()})
_BYTE_CHARS = frozenset(_BYTE_TO_CHAR.values())


def _token_bytes(token: str) -> bytes:
    """The bytes a byte-level token stands for; added tokens (e.g. `<|endoftext|>`) spell UTF-8."""
    if _BYTE_CHARS.issuperset(token):
        return token.translate(_UNSPELL_BYTES).encode("latin-1")
    return token.encode("utf-8")


def _vocab_list(vocab: dict[str, int], source: str) -> list[str]:
    """Invert a token -> id map whose ids must be exactly 0 .. len-1."""
    tokens = [""] * len(vocab)
    for token, i in vocab.items():
        if not 0 <= i < len(tokens):
            raise ValueError(f"{source}: token {token!r} has id {i} outside 0..{len(tokens) - 1}")
        tokens[i] = token
    return tokens


def _make_room(cache: dict[str, tuple[int, ...]], n: int) -> None:
    if len(cache) + n > _CACHE_ENTRIES:
        cache.clear()


def _forget_long(cache: dict[str, tuple[int, ...]], keys: list[str]) -> None:
    if keys and max(map(len, keys)) > _CACHE_MAX_CHARS:  # rare: check in C before looping
        for key in keys:
            if len(key) > _CACHE_MAX_CHARS:
                del cache[key]


def _split_words(chunks: Iterable[str]) -> tuple[list[str], list[list[str]]]:
    """The chunks, reordered, and the GPT-2 words of each, from one regex pass per script.

    A whitespace chunk is a single GPT-2 word. Non-space chunks are joined by newlines, which
    GPT-2 splits off as words of their own, so they mark where each chunk's words end; ASCII
    chunks go through ASCII_SPLIT, the rest through GPT2_SPLIT.
    """
    spaces, ascii_solid, other_solid = [], [], []
    for chunk in chunks:
        if chunk[-1] in _WS_CHARS:
            spaces.append(chunk)
        elif chunk.isascii():
            ascii_solid.append(chunk)
        else:
            other_solid.append(chunk)
    groups = [[c] for c in spaces]
    for pattern, solid in ((ASCII_SPLIT, ascii_solid), (GPT2_SPLIT, other_solid)):
        if not solid:
            continue
        groups.append([])
        for word in pattern.findall("\n".join(solid)):
            if word == "\n":
                groups.append([])
            else:
                groups[-1].append(word)
    return spaces + ascii_solid + other_solid, groups


def _spell(words: list[str]) -> list[str]:
    """Each word's UTF-8 bytes as GPT-2's byte characters, in one translate of all the words."""
    joined = "\x00".join(words)
    if joined.count("\x00") != len(words) - 1:  # a NUL inside a word (or no words): one by one
        return [w.encode("utf-8").decode("latin-1").translate(_SPELL_BYTES) for w in words]
    spelled = joined.encode("utf-8").decode("latin-1").translate(_SPELL_BYTES)
    return spelled.split(_BYTE_TO_CHAR[0])


class HFBackend:
    """A `tokenizers` pipeline (normaliser, pre-tokenizer, model) run per text segment."""

    def __init__(self, tokenizer: Tokenizer, source: str) -> None:
        self._tok = tokenizer
        self._ids = tokenizer.get_vocab(with_added_tokens=True)
        self._tokens = _vocab_list(self._ids, source)
        self.vocab_size = len(self._tokens)

    def encode(self, text: str) -> list[int]:
        return self._tok.encode_batch_fast([text], add_special_tokens=False)[0].ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return [e.ids for e in self._tok.encode_batch_fast(texts, add_special_tokens=False)]

    def id_to_token(self, i: int) -> str:
        return self._tokens[i]

    def token_to_id(self, token: str) -> int | None:
        return self._ids.get(token)


class ByteLevelBPEBackend(HFBackend):
    """GPT-2 / RoBERTa / trained byte-level BPE (see the module docstring for the caches).

    The full `tokenizers` pipeline per text is only about 1.5x faster than GLM's Python encoder
    (its per-word bookkeeping dominates); a lookup per known chunk, with the BPE model only for
    unseen words, is several times faster.
    """

    def __init__(self, tokenizer: Tokenizer, source: str, words_are_tokens: bool = False) -> None:
        super().__init__(tokenizer, source)
        self._bpe = tokenizer.model
        self._chunk_ids: dict[str, tuple[int, ...]] = {}
        self._word_ids: dict[str, tuple[int, ...]] = {}
        # In GPT-2's vocabulary (and RoBERTa's, the same strings and merges) every token that a
        # GPT-2 word can spell is its own BPE encoding (tests/test_tokenization_byte_bpe.py
        # checks all 50k), so a word found in the vocabulary needs no BPE run.
        self._whole_words = self._ids if words_are_tokens else {}

    @classmethod
    def from_vocab_files(cls, vocab_json: Path, merges_txt: Path) -> "ByteLevelBPEBackend":
        bpe = models.BPE.from_file(str(vocab_json), str(merges_txt))
        return cls(Tokenizer(bpe), str(vocab_json), words_are_tokens=True)

    @classmethod
    def from_json(cls, path: Path) -> "ByteLevelBPEBackend":
        tokenizer = Tokenizer.from_file(str(path))
        missing = _BYTE_CHARS.difference(tokenizer.get_vocab())
        if not isinstance(tokenizer.model, models.BPE) or missing:
            raise ValueError(
                f"{path} is not a byte-level BPE: train one with scripts/train_tokenizer.py"
            )
        return cls(tokenizer, str(path))

    def encode(self, text: str) -> list[int]:
        chunks = CHUNK_SPLIT.findall(text)
        known = self._chunk_ids.__getitem__
        try:  # the common case once the cache is warm: every chunk is known
            return list(chain.from_iterable(map(known, chunks)))
        except KeyError:
            new_chunks = self._learn(set(chunks))
            ids = list(chain.from_iterable(map(known, chunks)))
            _forget_long(self._chunk_ids, new_chunks)
            return ids

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        # one text at a time: measured faster than pooling a batch's chunks, whose many live
        # objects cost more in memory traffic and garbage collection than pooling saves
        return [self.encode(t) for t in texts]

    def _learn(self, chunks: set[str]) -> list[str]:
        """Put the ids of every chunk into the chunk cache; return the chunks that were new.

        New chunks are split into GPT-2 words; only words never seen before reach the BPE model.
        """
        chunk_ids, word_ids = self._chunk_ids, self._word_ids
        _make_room(chunk_ids, len(chunks))  # before the difference: it may empty the cache
        new_chunks, chunk_words = _split_words(chunks.difference(chunk_ids))
        words = set(chain.from_iterable(chunk_words))
        _make_room(word_ids, len(words))
        new_words = list(words.difference(word_ids))
        whole, tokenize = self._whole_words, self._bpe.tokenize
        spelled_words = _spell(new_words)
        word_ids.update(
            zip(
                new_words,
                [
                    (single,) if single is not None else tuple([t.id for t in tokenize(spelled)])
                    for spelled, single in zip(
                        spelled_words, map(whole.get, spelled_words), strict=True
                    )
                ],
                strict=True,
            )
        )
        ids_of = word_ids.__getitem__
        # tuples: immutable, so one-word chunks share their word's ids, and faster to chain
        chunk_ids.update(
            zip(
                new_chunks,
                [
                    ids_of(in_chunk[0])
                    if len(in_chunk) == 1
                    else tuple(chain.from_iterable(map(ids_of, in_chunk)))
                    for in_chunk in chunk_words
                ],
                strict=True,
            )
        )
        _forget_long(word_ids, new_words)
        return new_chunks

    @cached_property
    def _bytes(self) -> list[bytes]:
        """Each token's bytes, built on first decode (encoding never needs them)."""
        return [_token_bytes(t) for t in self._tokens]

    def surface(self, i: int) -> str:
        return self._bytes[i].decode("utf-8", errors="replace")

    def decode(self, ids: list[int], command_strings: dict[int, str]) -> str:
        """Bytes of all ids joined, command ids spelled as their strings, then UTF-8 decoded."""
        pieces = [
            command_strings[i].encode("utf-8") if i in command_strings else self._bytes[i]
            for i in ids
        ]
        return b"".join(pieces).decode("utf-8", errors="replace")


class WordPieceBackend(HFBackend):
    """BERT: clean-up, optional lower-casing and accent stripping, punctuation split, WordPiece."""

    @classmethod
    def from_vocab_file(cls, vocab_txt: Path, lower_case: bool) -> "WordPieceBackend":
        model = models.WordPiece.from_file(
            str(vocab_txt), unk_token="[UNK]", max_input_chars_per_word=100
        )
        tokenizer = Tokenizer(model)
        tokenizer.normalizer = normalizers.BertNormalizer(
            clean_text=True, handle_chinese_chars=True, strip_accents=None, lowercase=lower_case
        )
        tokenizer.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
        return cls(tokenizer, str(vocab_txt))

    def surface(self, i: int) -> str:
        return self._tokens[i]

    def decode(self, ids: list[int], command_strings: dict[int, str]) -> str:
        """Word pieces joined by spaces, each `##` continuation glued to the piece before it."""
        words: list[str] = []
        for i in ids:
            token = command_strings[i] if i in command_strings else self._tokens[i]
            if token.startswith("##") and words:
                words[-1] += token[2:]
            else:
                words.append(token)
        return " ".join(words)


class SentencePieceBackend:
    """The Chinese SentencePiece model. Its normaliser turns newlines into spaces, as GLM's did."""

    def __init__(self, model_file: Path) -> None:
        self._sp = spm.SentencePieceProcessor(model_file=str(model_file))
        self.vocab_size = self._sp.get_piece_size()

    def encode(self, text: str) -> list[int]:
        return self._sp.encode(text)

    def encode_batch(self, texts: list[str]) -> list[list[int]]:
        return self._sp.encode(texts)

    def id_to_token(self, i: int) -> str:
        return self._sp.id_to_piece(i)

    def token_to_id(self, token: str) -> int | None:
        i = self._sp.piece_to_id(token)
        return i if self._sp.id_to_piece(i) == token else None

    def surface(self, i: int) -> str:
        return self._sp.id_to_piece(i).replace("▁", " ")

    def decode(self, ids: list[int], command_strings: dict[int, str]) -> str:
        """Runs of text ids decoded by SentencePiece, command strings in between, no separators."""
        out: list[str] = []
        run: list[int] = []
        for i in ids:
            if i in command_strings:
                out.append(self._sp.decode(run))
                out.append(command_strings[i])
                run = []
            else:
                run.append(i)
        out.append(self._sp.decode(run))
        return "".join(out)


def train_byte_bpe(
    files_or_iterator: str | Path | Sequence[str | Path] | Iterable[str],
    vocab_size: int,
    out_dir: str | Path,
) -> None:
    """Train a byte-level BPE on your text and write `out_dir/tokenizer.json`.

    `files_or_iterator` is a file path, a list or tuple of file paths, or any other iterable
    (e.g. a generator) of text strings, which is streamed. `<|endoftext|>` is the first text
    token (id 0); `ByteBPETokenizer` appends GLM's other command tokens after the `vocab_size`
    text ids when it loads the folder.
    """
    if vocab_size <= 257:
        raise ValueError(
            f"--vocab-size {vocab_size} is too small: it must exceed 257 "
            "(256 byte tokens + <|endoftext|>)"
        )
    tokenizer = Tokenizer(models.BPE())
    tokenizer.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tokenizer.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        special_tokens=["<|endoftext|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    if isinstance(files_or_iterator, str | Path):
        files_or_iterator = [files_or_iterator]
    if isinstance(files_or_iterator, Sequence):
        for f in files_or_iterator:
            if not Path(f).is_file():
                raise FileNotFoundError(f"training file {f} not found: pass existing text files")
        tokenizer.train([str(f) for f in files_or_iterator], trainer)
    else:
        tokenizer.train_from_iterator(files_or_iterator, trainer)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    tokenizer.save(str(out / "tokenizer.json"))
