"""Corpus readers: files, folders and globs of JSON lines, JSON or plain text into documents.

Inputs may be compressed (`.gz`, `.zst`). Reading happens in two steps so that the expensive
one runs in worker processes: `iter_units` splits a file into raw units (a JSON line, a whole
JSON file, a text document) in the main process, and `parse_unit` turns a unit into documents
or problems (a bad record, or one a corpus rule filters out) in a worker.

Formats:
- `.jsonl`: one JSON object per line; the text is `--text-key` (default `text`), optionally
  prefixed by `--title-key` (WuDao-style `title` + `content`) and preceded by a prompt
  (`--prompt-key`, loss mask 0 on its tokens).
- `.json`: JSON lines too, or one JSON array of objects, or `{"RECORDS": [...]}` (WuDao).
- `.txt`: documents separated by blank lines (`paragraphs`), one per line (`lines`), or one
  per file (`file`).

`NAMED_CORPORA` holds GLM's corpus names (`--train-data wikibook pile ...`) with their record
formats; their locations come from `--corpus-path NAME=PATH` or `GLM_CORPUS_<NAME>`.
"""

import glob
import gzip
import io
import json
import os
import zlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

import zstandard

TXT_MODES = ("paragraphs", "lines", "file")
_FORMATS = {".jsonl": "jsonl", ".json": "json", ".txt": "txt"}


@dataclass(frozen=True)
class Document:
    text: str
    prompt: str = ""  # its tokens get loss mask 0


@dataclass(frozen=True)
class Problem:
    reason: str  # e.g. invalid_json, missing_key, empty; or a corpus filter's reason
    bad: bool = True  # False: a well-formed record a corpus rule leaves out


class RecordError(Exception):
    """Raised by record extractors; carries the `Problem` to report."""

    def __init__(self, reason: str, bad: bool = True) -> None:
        super().__init__(reason)
        self.problem = Problem(reason, bad)


@dataclass(frozen=True)
class ReaderConfig:
    """How to read records: the `--text-key`/`--title-key`/`--prompt-key`/`--txt-mode` flags."""

    text_key: str = "text"
    title_key: str | None = None
    prompt_key: str | None = None
    txt_mode: str = "paragraphs"
    corpus: str | None = None  # a NAMED_CORPORA key: use its record format instead

    def __post_init__(self) -> None:
        if self.txt_mode not in TXT_MODES:
            raise ValueError(f"--txt-mode {self.txt_mode} is not one of {', '.join(TXT_MODES)}")


@dataclass(frozen=True)
class Unit:
    source: str
    line: int  # 1-based line (first line of a text document; 1 for a whole file)
    payload: bytes
    kind: str  # json-line | json-file | text
    reader: ReaderConfig


def _field(record: dict, key: str) -> str:
    if key not in record:
        raise RecordError("missing_key")
    value = record[key]
    if not isinstance(value, str):
        raise RecordError("not_text")
    return value


def generic_record(record: dict, config: ReaderConfig) -> list[Document]:
    text = _field(record, config.text_key)
    if config.title_key is not None:
        text = _field(record, config.title_key) + " " + text
    prompt = _field(record, config.prompt_key) if config.prompt_key else ""
    return [Document(text, prompt)]


def _min_chars(text: str, limit: int = 100) -> str:
    if len(text) <= limit:
        raise RecordError(f"shorter_than_{limit + 1}_chars", bad=False)
    return text


_PILE_DROPPED = {
    "Github",
    "StackExchange",
    "DM Mathematics",
    "Ubuntu IRC",
    "EuroParl",
    "YoutubeSubtitles",
    "Enron Emails",
}
_PILE_THINNED = {"PubMed Central", "ArXiv", "FreeLaw"}  # 30% kept


def _pile(record: dict) -> list[Document]:
    text = _field(record, "text")
    subset = record.get("meta", {}).get("pile_set_name", "")
    if subset in _PILE_DROPPED:
        raise RecordError(f"pile_set_{subset}", bad=False)
    # GLM keeps a random 30% of these; a hash of the text keeps the choice reproducible.
    if subset in _PILE_THINNED and zlib.crc32(text.encode()) % 10 >= 3:
        raise RecordError(f"pile_set_{subset}_thinned", bad=False)
    return [Document(text)]


def _cc_news(record: dict) -> list[Document]:
    title, main = _field(record, "title"), _field(record, "maintext")
    description = record.get("description") or ""
    parts = [title] + ([description] if description and not main.startswith(description) else [])
    return [Document(_min_chars("\n".join([*parts, main])))]


def _wudao(record: dict) -> list[Document]:
    return [Document(_min_chars(_field(record, "title") + " " + _field(record, "content")))]


def _baike(record: dict) -> list[Document]:
    keys = ("title", "abstract", "content")
    return [Document("".join(_field(record, k) for k in keys))]


@dataclass(frozen=True)
class CorpusSpec:
    name: str
    description: str
    extract: Callable[[dict], list[Document]] | None = None  # JSON records
    txt_mode: str | None = None  # plain text instead


NAMED_CORPORA = {
    spec.name: spec
    for spec in (
        CorpusSpec(
            "wikipedia", 'Wikipedia, jsonl {"text"}', lambda r: [Document(_field(r, "text"))]
        ),
        CorpusSpec(
            "openwebtext",
            'OpenWebText2, jsonl {"text"}, > 100 chars (no language filter)',
            lambda r: [Document(_min_chars(_field(r, "text")))],
        ),
        CorpusSpec("baike", "Baidu Baike, title + abstract + content", _baike),
        CorpusSpec(
            "test",
            'jsonl {"prompt", "text"}',
            lambda r: [Document(_field(r, "text"), _field(r, "prompt"))],
        ),
        CorpusSpec("wikibook", "Wikipedia + BookCorpus, one document per line", txt_mode="lines"),
        CorpusSpec(
            "bert-base", "BERT-base pretraining text, one article per line", txt_mode="lines"
        ),
        CorpusSpec(
            "bert-large", "BERT-large pretraining text, one article per line", txt_mode="lines"
        ),
        CorpusSpec("cc-news", "CC-News, title + description + maintext, > 100 chars", _cc_news),
        CorpusSpec("pile", "The Pile, GLM's subset selection", _pile),
        CorpusSpec("stories", 'Stories, jsonl {"text"}', lambda r: [Document(_field(r, "text"))]),
        CorpusSpec("wudao", 'WuDaoCorpora, {"RECORDS": [{"title", "content"}]}', _wudao),
    )
}


def corpus_env_var(name: str) -> str:
    return "GLM_CORPUS_" + name.upper().replace("-", "_")


def resolve_inputs(
    inputs: list[str], base: ReaderConfig, corpus_paths: Mapping[str, str] | None = None
) -> list[tuple[Path, ReaderConfig]]:
    """Files to read, each with its reader: paths, globs, folders (recursive), corpus names."""
    resolved = []
    for item in inputs:
        if item in NAMED_CORPORA and not Path(item).exists():
            location = (corpus_paths or {}).get(item) or os.environ.get(corpus_env_var(item))
            if not location:
                raise ValueError(
                    f"corpus {item} has no location: pass --corpus-path {item}=PATH or set "
                    f"{corpus_env_var(item)}"
                )
            spec = NAMED_CORPORA[item]
            reader = ReaderConfig(corpus=item, txt_mode=spec.txt_mode or "paragraphs")
            resolved += [(p, reader) for p in expand_paths(location)]
        else:
            resolved += [(p, base) for p in expand_paths(item)]
    return resolved


def expand_paths(pattern: str) -> list[Path]:
    """A file, a folder (all files below it) or a glob, sorted; an error if nothing matches."""
    matches = sorted(glob.glob(pattern, recursive=True)) or [pattern]
    files = []
    for match in map(Path, matches):
        if match.is_dir():
            files += sorted(p for p in match.rglob("*") if p.is_file())
        elif match.is_file():
            files.append(match)
    if not files:
        raise FileNotFoundError(f"input {pattern} matches no file")
    return files


def file_format(path: Path) -> tuple[str, str]:
    """(format, compression) from the file name, e.g. ('jsonl', '.gz')."""
    suffixes = path.suffixes
    compression = suffixes[-1] if suffixes and suffixes[-1] in (".gz", ".zst") else ""
    stem_suffix = Path(path.name[: len(path.name) - len(compression)]).suffix
    if stem_suffix not in _FORMATS:
        raise ValueError(
            f"{path}: cannot tell the format from the name; use .jsonl, .json or .txt "
            "(optionally .gz or .zst)"
        )
    return _FORMATS[stem_suffix], compression


def open_binary(path: Path) -> BinaryIO:
    _, compression = file_format(path)
    if compression == ".gz":
        return gzip.open(path, "rb")
    if compression == ".zst":
        raw = open(path, "rb")  # noqa: SIM115 - closed with the reader
        return io.BufferedReader(zstandard.ZstdDecompressor().stream_reader(raw, closefd=True))
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


def _text_documents(lines: Iterator[bytes], mode: str) -> Iterator[tuple[int, bytes]]:
    if mode == "lines":
        for number, line in enumerate(lines, 1):
            if line.strip():
                yield number, line
        return
    start, chunk = 1, []
    for number, line in enumerate(lines, 1):
        if mode == "paragraphs" and not line.strip():
            if chunk:
                yield start, b"".join(chunk)
            chunk = []
            continue
        if not chunk:
            start = number
        chunk.append(line)
    if chunk:
        yield start, b"".join(chunk)


_UNREADABLE = (OSError, EOFError, zstandard.ZstdError)  # gzip.BadGzipFile is an OSError
_UTF16_MARKS = (b"\xff\xfe", b"\xfe\xff")


def _unreadable(path: Path, error: BaseException) -> ValueError:
    compression = file_format(path)[1] or "plain"
    return ValueError(
        f"{path}: cannot read it ({compression} file): {error}: the file is damaged or not what "
        "its name says; copy or compress it again"
    )


def check_corpus_file(path: Path) -> None:
    """Fail early, naming ``path``, when it cannot be decompressed or is UTF-16 text.

    Single bad records are counted later, not fatal; these make every record of the file bad.
    """
    try:
        with open_binary(path) as f:
            head = f.read(1 << 16)
    except _UNREADABLE as error:
        raise _unreadable(path, error) from None
    if head.startswith(_UTF16_MARKS):
        raise ValueError(
            f"{path} is UTF-16 text (it starts with a UTF-16 byte-order mark): corpora must be "
            "UTF-8; convert it, e.g. iconv -f UTF-16 -t UTF-8"
        )
    line = _other_encoding(head)
    if line is not None:
        raise ValueError(
            f"{path}:{line}: not UTF-8 text, and neither are most of its lines with non-ASCII "
            "characters: the file is in another encoding; convert it, e.g. "
            "iconv -f latin1 -t utf-8"
        )


def _other_encoding(head: bytes, least: int = 3) -> int | None:
    """The first undecodable line when most non-ASCII lines of ``head`` fail as UTF-8.

    A few corrupt lines in a UTF-8 file are bad records (counted, skipped); a file written in
    another encoding fails on nearly every line that is not plain ASCII.
    """
    lines = head.split(b"\n")[:-1] or [head]  # the last piece may be cut mid-character
    failing, non_ascii = [], 0
    for number, raw in enumerate(lines, 1):
        if raw.isascii():
            continue
        non_ascii += 1
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError:
            failing.append(number)
    if len(failing) >= least and 2 * len(failing) > non_ascii:
        return failing[0]
    return None


def iter_units(path: Path, reader: ReaderConfig) -> Iterator[Unit]:
    """The raw units of one file, in order (cheap: no decoding or parsing here).

    A `.json` file is one unit (parsed whole, or as JSON lines if that fails); use `.jsonl` for
    large line-oriented files so their lines spread over the workers. A file that breaks off
    while it is decompressed is an error naming it.
    """
    try:
        yield from _units(path, reader)
    except _UNREADABLE as error:
        raise _unreadable(path, error) from None


def _units(path: Path, reader: ReaderConfig) -> Iterator[Unit]:
    fmt, _ = file_format(path)
    source = str(path)
    with open_binary(path) as f:
        if fmt == "json":
            yield Unit(source, 1, f.read(), "json-file", reader)
        elif fmt == "txt":
            for line, payload in _text_documents(iter(f), reader.txt_mode):
                yield Unit(source, line, payload, "text", reader)
        else:
            for number, line in enumerate(f, 1):
                yield Unit(source, number, line, "json-line", reader)


Parsed = list[tuple[int, Document | Problem]]


def _extract(record: object, reader: ReaderConfig) -> list[Document]:
    if not isinstance(record, dict):
        raise RecordError("not_an_object")
    if reader.corpus is not None:
        return NAMED_CORPORA[reader.corpus].extract(record)
    return generic_record(record, reader)


def _records(line: int, data: object, reader: ReaderConfig, whole_file: bool) -> Parsed:
    """Documents of one parsed JSON value: an object, {"RECORDS": [...]}, or (a whole file) an
    array of objects.

    Records inside an array are numbered from 1 in place of a line number.
    """
    if isinstance(data, dict) and isinstance(data.get("RECORDS"), list):
        items = list(enumerate(data["RECORDS"], 1))
    elif isinstance(data, list) and whole_file:
        items = list(enumerate(data, 1))
    else:
        items = [(line, data)]
    out: Parsed = []
    for number, record in items:
        try:
            out += [(number, d) for d in _extract(record, reader)]
        except RecordError as e:
            out.append((number, e.problem))
    return out


def _json_value(line: int, text: str, reader: ReaderConfig) -> Parsed:
    if not text.strip():
        return [(line, Problem("empty"))]
    try:
        data = json.loads(text)
    except ValueError:
        return [(line, Problem("invalid_json"))]
    return _records(line, data, reader, whole_file=False)


def _json_lines(payload: bytes, reader: ReaderConfig) -> Parsed:
    out: Parsed = []
    for number, raw in enumerate(payload.rstrip(b"\n").split(b"\n"), 1):
        try:
            out += _json_value(number, raw.decode("utf-8"), reader)
        except UnicodeDecodeError:
            out.append((number, Problem("invalid_utf8")))
    return out


def _json_file(payload: bytes, reader: ReaderConfig) -> Parsed:
    try:
        data = json.loads(payload.decode("utf-8"))
    except ValueError:  # not one JSON value (UnicodeDecodeError is one too): JSON lines
        return _json_lines(payload, reader)
    return _records(1, data, reader, whole_file=True)


def parse_unit(unit: Unit) -> Parsed:
    """Documents (or problems) of one unit, each with its line number."""
    if unit.kind == "text":
        try:
            out: Parsed = [(unit.line, Document(unit.payload.decode("utf-8")))]
        except UnicodeDecodeError:
            out = [(unit.line, Problem("invalid_utf8"))]
    elif unit.kind == "json-file":
        out = _json_file(unit.payload, unit.reader)
    else:
        out = _json_lines(unit.payload, unit.reader)  # one line: its number is the unit's
        out = [(unit.line, d) for _, d in out]
    return [
        (line, Problem("empty") if isinstance(d, Document) and not d.text.strip() else d)
        for line, d in out
    ]


def punctuation_standardization(text: str) -> str:
    """GLM's reader normalisation: curly quotes to straight ones, en dash to hyphen."""
    return text.translate(_PUNCTUATION)


_PUNCTUATION = str.maketrans(
    {"\u201c": '"', "\u201d": '"', "\u2018": "'", "\u2019": "'", "\u2013": "-"}
)
