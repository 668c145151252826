"""Preprocessing: corpora -> token store, tokenized in parallel worker processes.

The main process reads raw units (`corpora.iter_units`) and hands chunks of them to workers,
which parse, normalise, split into sentences and tokenize. Results come back in input order, so
the store is the same for any `--workers`. Bad records (invalid UTF-8, invalid JSON, missing
key, empty text, ...) are counted per reason and listed at the end; `--strict` stops at the
first one with its file and line.

Sentence boundaries: English-like text is split with nltk's punkt model read from `NLTK_DATA`
(never downloaded), then each sentence is tokenized with the whitespace before it, which gives
the same ids as tokenizing the whole document. Chinese text (punkt has no Chinese model), and any
text with `--sentence-splitter tokens` (no nltk data needed), is tokenized whole and split after
tokens holding sentence-end punctuation.
"""

import argparse
import logging
import multiprocessing as mp
import os
import time
from collections import Counter, deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from tqdm import tqdm

from common.errors import exit_on_bad_input, reporting_write_errors
from common.paths import check_not_an_input, check_writable_folder
from data_utils.corpora import (
    TXT_MODES,
    Document,
    Problem,
    ReaderConfig,
    Unit,
    check_corpus_file,
    file_format,
    iter_units,
    parse_unit,
    punctuation_standardization,
    resolve_inputs,
)
from data_utils.token_store import TokenStoreWriter, token_dtype, tokenizer_fingerprint
from data_utils.tokenization import TOKENIZER_TYPES, TokenizerConfig, build_tokenizer

logger = logging.getLogger(__name__)
PUNKT_BLOCK = 32_768  # punkt runs on blocks this long (nltk times out regexes on huge texts)


@dataclass(frozen=True)
class PreprocessConfig:
    """What to read, how to tokenize it, where the store goes (`scripts/preprocess_data.py`)."""

    inputs: tuple[str, ...]
    output: str
    tokenizer: TokenizerConfig
    reader: ReaderConfig = ReaderConfig()
    corpus_paths: dict[str, str] = field(default_factory=dict)
    workers: int = 1
    strict: bool = False
    overwrite: bool = False
    chinese: bool | None = None  # None: Chinese iff the tokenizer is ChineseSPTokenizer
    sentence_splitter: str = "punkt"  # or "tokens": after sentence-end tokens (no nltk data)
    progress: bool = True
    chunk_bytes: int = 1 << 20

    def __post_init__(self) -> None:
        if self.workers < 1:
            raise ValueError(f"--workers must be >= 1, got {self.workers}")
        if self.sentence_splitter not in ("punkt", "tokens"):
            raise ValueError(
                f"--sentence-splitter must be punkt or tokens, got {self.sentence_splitter}"
            )

    @property
    def is_chinese(self) -> bool:
        if self.chinese is None:
            return self.tokenizer.tokenizer_type == "ChineseSPTokenizer"
        return self.chinese

    @property
    def uses_punkt(self) -> bool:
        """punkt splits English-like text unless told otherwise; it has no Chinese model."""
        return self.sentence_splitter == "punkt" and not self.is_chinese


@dataclass(frozen=True)
class BadLine:
    source: str
    line: int
    reason: str


class BadRecordError(ValueError):
    """A bad record under `--strict`."""


@dataclass
class ChunkResult:
    documents: list[tuple[np.ndarray, np.ndarray, int]]  # tokens, sentence starts, prompt length
    problems: list[tuple[BadLine, bool]]  # (where and why, is it bad (else filtered))
    nbytes: int


def load_punkt():
    """nltk's English punkt model from NLTK_DATA; a clear error when it is not there."""
    from nltk.tokenize.punkt import PunktTokenizer

    try:
        return PunktTokenizer("english")
    except LookupError:
        raise FileNotFoundError(
            "nltk punkt data (tokenizers/punkt_tab/english) not found: set NLTK_DATA to a folder "
            "holding it, e.g. NLTK_DATA=../shared/nltk_data (preprocessing never downloads)"
        ) from None


def _blocks(text: str, size: int = PUNKT_BLOCK) -> Iterator[int]:
    """Start offsets of blocks of at most `size` chars, cut before a line break or space."""
    start = 0
    while len(text) - start > size:
        window = text[start : start + size]
        cut = max(window.rfind("\n"), window.rfind(" "))
        start += cut if cut > 0 else size
        yield start


def sentence_pieces(text: str, punkt) -> list[str]:
    """`text` cut at punkt's sentence ends; each piece starts with the whitespace before it."""
    cuts = []
    block_starts = [0, *_blocks(text)]
    for begin, end in zip(block_starts, [*block_starts[1:], len(text)], strict=True):
        cuts += [begin + e for _, e in punkt.span_tokenize(text[begin:end])]
        cuts.append(end)
    # Cut only before whitespace, so each piece tokenizes as it would inside the document.
    cuts = sorted({c for c in cuts if 0 < c < len(text) and text[c].isspace()} | {len(text)})
    return [text[a:b] for a, b in zip([0, *cuts[:-1]], cuts, strict=True)]


class _Worker:
    """Per-process state: the tokenizer and the sentence splitter."""

    def __init__(self, config: PreprocessConfig) -> None:
        self.tokenizer = build_tokenizer(config.tokenizer)
        self.chinese = config.is_chinese
        self.punkt = load_punkt() if config.uses_punkt else None
        self.sentence_end = self.tokenizer.sentence_end_table()

    def process(self, units: list[Unit]) -> ChunkResult:
        docs, problems = [], []
        for unit in units:
            for line, item in parse_unit(unit):
                if isinstance(item, Problem):
                    problems.append((BadLine(unit.source, line, item.reason), item.bad))
                else:
                    docs.append((BadLine(unit.source, line, "empty"), item))
        encoded = []
        for (where, _), result in zip(docs, self._encode([d for _, d in docs]), strict=True):
            if len(result[0]):
                encoded.append(result)
            else:
                problems.append((where, True))
        return ChunkResult(encoded, problems, sum(len(u.payload) for u in units))

    def _pieces(self, doc: Document) -> tuple[list[str], str]:
        text, prompt = doc.text.strip(), doc.prompt
        if not self.chinese:
            text, prompt = punctuation_standardization(text), punctuation_standardization(prompt)
        return ([text] if self.punkt is None else sentence_pieces(text, self.punkt)), prompt

    def _encode(self, docs: list[Document]) -> list[tuple[np.ndarray, np.ndarray, int]]:
        pieces, plans = [], []
        for doc in docs:
            sentences, prompt = self._pieces(doc)
            plans.append((len(pieces), len(sentences), bool(prompt)))
            pieces += ([prompt] if prompt else []) + sentences
        ids = self.tokenizer.encode_batch(pieces) if pieces else []
        out = []
        for first, count, has_prompt in plans:
            parts = [np.asarray(p, dtype=np.int64) for p in ids[first : first + count + has_prompt]]
            lengths = np.array([len(p) for p in parts], dtype=np.int64)
            tokens = np.concatenate(parts) if parts else np.zeros(0, dtype=np.int64)
            starts = np.cumsum(lengths) - lengths
            prompt_len = int(lengths[0]) if has_prompt else 0
            if self.punkt is None:  # split after sentence-end tokens instead
                ends = np.flatnonzero(self.sentence_end[tokens[prompt_len:-1]]) + prompt_len + 1
                starts = np.concatenate((starts[: 1 + has_prompt], ends))
            starts = np.unique(starts[starts < len(tokens)])
            out.append((tokens, starts, prompt_len))
        return out


_WORKER: _Worker | None = None


def _init_worker(config: PreprocessConfig) -> None:
    global _WORKER
    _WORKER = _Worker(config)


def _process(units: list[Unit]) -> ChunkResult:
    return _WORKER.process(units)


def _chunks(sources, chunk_bytes: int) -> Iterator[list[Unit]]:
    chunk, size = [], 0
    for path, reader in sources:
        for unit in iter_units(path, reader):
            chunk.append(unit)
            size += len(unit.payload)
            if size >= chunk_bytes:
                yield chunk
                chunk, size = [], 0
    if chunk:
        yield chunk


def _results(config: PreprocessConfig, chunks: Iterator[list[Unit]]) -> Iterator[ChunkResult]:
    """Chunk results in input order; at most 2 chunks per worker in flight (bounded memory)."""
    if config.workers == 1:
        worker = _Worker(config)
        yield from map(worker.process, chunks)
        return
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    with mp.get_context(method).Pool(config.workers, _init_worker, (config,)) as pool:
        pending = deque()
        for chunk in chunks:
            pending.append(pool.apply_async(_process, (chunk,)))
            if len(pending) >= 2 * config.workers:
                yield pending.popleft().get()
        while pending:
            yield pending.popleft().get()


@dataclass
class PreprocessReport:
    """What a run did; `bad_lines` lists every bad record (filtered ones are only counted)."""

    output: Path
    documents: int = 0
    tokens: int = 0
    nbytes: int = 0
    seconds: float = 0.0
    bad: Counter = field(default_factory=Counter)
    filtered: Counter = field(default_factory=Counter)
    bad_lines: list[BadLine] = field(default_factory=list)

    def summary(self, examples: int = 5) -> str:
        rate = self.nbytes / 1e6 / max(self.seconds, 1e-9)
        lines = [
            f"wrote {self.output}: {self.documents} documents, {self.tokens} tokens from "
            f"{self.nbytes / 1e6:.1f} MB in {self.seconds:.1f} s ({rate:.2f} MB/s)",
            "bad records: "
            + (", ".join(f"{k} {v}" for k, v in sorted(self.bad.items())) or "none"),
        ]
        if self.filtered:
            lines.append(
                "filtered: " + ", ".join(f"{k} {v}" for k, v in sorted(self.filtered.items()))
            )
        for reason in sorted(self.bad):
            where = [f"{b.source}:{b.line}" for b in self.bad_lines if b.reason == reason]
            more = f" (+{len(where) - examples} more)" if len(where) > examples else ""
            lines.append(f"  {reason}: {', '.join(where[:examples])}{more}")
        return "\n".join(lines)

    def header_stats(self) -> dict:
        return {
            "documents": self.documents,
            "tokens": self.tokens,
            "bad_records": dict(sorted(self.bad.items())),
            "filtered": dict(sorted(self.filtered.items())),
        }


def _describe(cfg: TokenizerConfig) -> str:
    parts = [cfg.tokenizer_type, cfg.tokenizer_model_type or ""]
    return " ".join(p for p in parts if p)


def _total_bytes(sources) -> int | None:
    """Input size for the progress bar; unknown (None) when some input is compressed."""
    if any(file_format(p)[1] for p, _ in sources):
        return None
    return sum(p.stat().st_size for p, _ in sources)


def _record(report: PreprocessReport, result: ChunkResult, strict: bool) -> None:
    for where, bad in result.problems:
        if not bad:
            report.filtered[where.reason] += 1
            continue
        if strict:
            raise BadRecordError(
                f"{where.source}:{where.line}: {where.reason} (--strict stops at the first bad "
                "record; drop --strict to skip and count them)"
            )
        report.bad[where.reason] += 1
        report.bad_lines.append(where)
    report.nbytes += result.nbytes


def preprocess(config: PreprocessConfig) -> PreprocessReport:
    """Build the token store `config.output` from `config.inputs`; returns the report."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")  # one core per worker
    start = time.perf_counter()
    sources = resolve_inputs(list(config.inputs), config.reader, config.corpus_paths)
    _check_paths(config.output, [path for path, _ in sources])
    tokenizer = build_tokenizer(config.tokenizer)
    if config.uses_punkt:
        load_punkt()  # fail before any work when NLTK_DATA lacks punkt
    identity = {
        "name": _describe(config.tokenizer),
        "fingerprint": tokenizer_fingerprint(tokenizer),
        "num_tokens": tokenizer.num_tokens,
    }
    report = PreprocessReport(Path(config.output))
    bar = tqdm(total=_total_bytes(sources), unit="B", unit_scale=True, disable=not config.progress)
    with (
        reporting_write_errors(config.output, "the token store --output"),
        bar,
        TokenStoreWriter(
            config.output, token_dtype(tokenizer.num_tokens), identity, config.overwrite
        ) as writer,
    ):
        for result in _results(config, _chunks(sources, config.chunk_bytes)):
            _record(report, result, config.strict)
            for tokens, starts, prompt_length in result.documents:
                writer.add(tokens, starts, prompt_length)
                report.documents += 1
                report.tokens += len(tokens)
            bar.update(result.nbytes)
        if report.documents == 0:  # raised inside the writer: no store is left behind
            raise ValueError(_nothing_written(report, config.reader.text_key, sources))
        writer.stats = report.header_stats()
    report.seconds = time.perf_counter() - start
    return report


def _check_paths(output: str, inputs: list[Path]) -> None:
    """Before any work: the store goes somewhere writable, never over or around an input."""
    check_not_an_input(("--output", output), [("--input", p) for p in inputs], folder=True)
    check_writable_folder(Path(output).absolute().parent, "--output", given=output)
    for path in inputs:
        check_corpus_file(path)


_HINTS = {
    "invalid_utf8": "the text is not UTF-8: convert it, e.g. iconv -f latin1 -t utf-8",
    "missing_key": "no record has the field --text-key {key}: name the field that holds the text",
    "empty": "the input holds no text",
    "invalid_json": "the lines are not JSON: use .txt for plain text",
}


def _nothing_written(report: PreprocessReport, text_key: str, sources: list) -> str:
    """Why no document was kept: the first bad record and what to do about the commonest reason."""
    if not report.bad_lines:
        names = ", ".join(str(path) for path, _ in sources[:3])
        more = f" and {len(sources) - 3} more" if len(sources) > 3 else ""
        return f"no document in --input {names}{more}: it holds no text; nothing was written"
    first = report.bad_lines[0]
    reason = report.bad.most_common(1)[0][0]
    hint = _HINTS.get(reason, "see the reasons above").format(key=text_key)
    count = sum(report.bad.values())
    return (
        f"no document in --input: all {count} records are bad, first {first.source}:"
        f"{first.line} ({first.reason}): {hint}; nothing was written"
    )


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(description="Tokenize corpora into a GLM token store.")
    p.add_argument(
        "--input", nargs="+", required=True, help="files, folders, globs or corpus names"
    )
    p.add_argument("--output", required=True, help="token store directory to create")
    p.add_argument("--tokenizer-type", default="BertWordPieceTokenizer", choices=TOKENIZER_TYPES)
    p.add_argument("--tokenizer-model-type", default=None)
    p.add_argument("--tokenizer-path", required=True, help="folder of the vocab files")
    p.add_argument("--fix-command-token", action="store_true")
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--text-key", default="text")
    p.add_argument("--title-key", default=None, help="prepended to the text, e.g. WuDao's title")
    p.add_argument("--prompt-key", default=None, help="prompt field (no loss on its tokens)")
    p.add_argument("--txt-mode", default="paragraphs", choices=TXT_MODES)
    p.add_argument(
        "--corpus-path",
        action="append",
        default=[],
        metavar="NAME=PATH",
        help="location of a named corpus (else GLM_CORPUS_<NAME>)",
    )
    p.add_argument("--chinese", action="store_true", help="Chinese text (auto for ChineseSP)")
    p.add_argument(
        "--sentence-splitter",
        default="punkt",
        choices=("punkt", "tokens"),
        help="punkt (nltk data from NLTK_DATA) or tokens: cut after sentence-end tokens",
    )
    p.add_argument("--strict", action="store_true", help="stop at the first bad record")
    p.add_argument("--overwrite", action="store_true", help="replace an existing store")
    p.add_argument("--no-progress", action="store_true")
    return p


def config_from_args(args: argparse.Namespace) -> PreprocessConfig:
    pairs = [item.split("=", 1) for item in args.corpus_path]
    if any(len(pair) != 2 for pair in pairs):
        raise ValueError(f"--corpus-path takes NAME=PATH, got {args.corpus_path}")
    tokenizer = TokenizerConfig(
        tokenizer_type=args.tokenizer_type,
        tokenizer_model_type=args.tokenizer_model_type,
        tokenizer_path=args.tokenizer_path,
        fix_command_token=args.fix_command_token,
    )
    reader = ReaderConfig(args.text_key, args.title_key, args.prompt_key, args.txt_mode)
    return PreprocessConfig(
        inputs=tuple(args.input),
        output=args.output,
        tokenizer=tokenizer,
        reader=reader,
        corpus_paths=dict(pairs),
        workers=args.workers,
        strict=args.strict,
        overwrite=args.overwrite,
        chinese=True if args.chinese else None,
        sentence_splitter=args.sentence_splitter,
        progress=not args.no_progress,
    )


def write_bad_lines(report: PreprocessReport) -> Path | None:
    """All bad records as `source<TAB>line<TAB>reason`, beside the store (not inside it)."""
    if not report.bad_lines:
        return None
    path = report.output.with_name(report.output.name + ".bad_records.tsv")
    path.write_text("".join(f"{b.source}\t{b.line}\t{b.reason}\n" for b in report.bad_lines))
    return path


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    args = build_parser().parse_args(argv)
    with exit_on_bad_input("preprocess_data.py"):
        report = preprocess(config_from_args(args))
    logger.info(report.summary())
    listing = write_bad_lines(report)
    if listing is not None:
        logger.info("every bad record is listed in %s", listing)
    return 0
