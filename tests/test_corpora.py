"""Corpus readers: formats, compression, bad records with their lines, named corpora."""

import gzip
import json

import pytest
import zstandard

from data_utils.corpora import (
    NAMED_CORPORA,
    Document,
    Problem,
    ReaderConfig,
    corpus_env_var,
    expand_paths,
    iter_units,
    parse_unit,
    punctuation_standardization,
    resolve_inputs,
)

DEFAULT = ReaderConfig()


def read(path, reader=DEFAULT):
    """(line, Document | Problem) of every record of one file."""
    return [item for unit in iter_units(path, reader) for item in parse_unit(unit)]


def docs(items):
    return [d.text for _, d in items if isinstance(d, Document)]


def problems(items):
    return [(line, p.reason) for line, p in items if isinstance(p, Problem)]


JSONL = b"\n".join(
    [
        b'{"text": "first doc"}',
        b'{"text": "broken',
        b'{"text": "caf\xe9 latin-1"}',
        b'{"text": "   "}',
        b"",
        b'{"body": "no text key"}',
        b'["not", "an object"]',
        b'{"text": 42}',
        b'{"text": "last doc"}',
    ]
)


def test_jsonl_keeps_good_records_and_names_bad_lines(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_bytes(JSONL + b"\n")
    items = read(path)
    assert docs(items) == ["first doc", "last doc"]
    assert problems(items) == [
        (2, "invalid_json"),
        (3, "invalid_utf8"),
        (4, "empty"),
        (5, "empty"),
        (6, "missing_key"),
        (7, "not_an_object"),
        (8, "not_text"),
    ]


@pytest.mark.parametrize("suffix", [".gz", ".zst"])
def test_compressed_files_read_like_plain_ones(tmp_path, suffix):
    plain = tmp_path / "c.jsonl"
    plain.write_bytes(JSONL)
    packed = tmp_path / f"c.jsonl{suffix}"
    if suffix == ".gz":
        packed.write_bytes(gzip.compress(JSONL))
    else:
        packed.write_bytes(zstandard.ZstdCompressor().compress(JSONL))
    assert read(packed) == read(plain)


def test_keys_title_and_prompt(tmp_path):
    path = tmp_path / "w.jsonl"
    path.write_text(json.dumps({"title": "T", "content": "C", "q": "Q?"}) + "\n")
    reader = ReaderConfig(text_key="content", title_key="title", prompt_key="q")
    ((_, doc),) = read(path, reader)
    assert doc == Document("T C", "Q?")


def test_json_files_records_arrays_and_lines(tmp_path):
    records = tmp_path / "wudao.json"
    records.write_text(json.dumps({"RECORDS": [{"text": "a"}, {"text": ""}, {"x": 1}]}, indent=2))
    assert docs(read(records)) == ["a"]
    assert problems(read(records)) == [(2, "empty"), (3, "missing_key")]
    array = tmp_path / "array.json"
    array.write_text(json.dumps([{"text": "b"}, {"text": "c"}]))
    assert docs(read(array)) == ["b", "c"]
    lines = tmp_path / "lines.json"
    lines.write_bytes(b'{"text": "d"}\n{oops\n{"text": "e"}\n')
    assert docs(read(lines)) == ["d", "e"] and problems(read(lines)) == [(2, "invalid_json")]


def test_text_modes(tmp_path):
    path = tmp_path / "t.txt"
    path.write_text("one\ntwo\n\n\nthree\n")
    assert [t.strip() for t in docs(read(path))] == ["one\ntwo", "three"]
    assert [line for line, _ in read(path)] == [1, 5]
    assert docs(read(path, ReaderConfig(txt_mode="lines"))) == ["one\n", "two\n", "three\n"]
    assert docs(read(path, ReaderConfig(txt_mode="file"))) == ["one\ntwo\n\n\nthree\n"]
    with pytest.raises(ValueError, match="--txt-mode"):
        ReaderConfig(txt_mode="pages")


def test_paths_folders_globs_and_errors(tmp_path):
    (tmp_path / "a" / "b").mkdir(parents=True)
    for name in ("a/1.jsonl", "a/b/2.txt", "a/b/3.jsonl"):
        (tmp_path / name).write_text("x\n")
    assert [p.name for p in expand_paths(str(tmp_path / "a"))] == ["1.jsonl", "2.txt", "3.jsonl"]
    assert [p.name for p in expand_paths(str(tmp_path / "a/**/*.jsonl"))] == ["1.jsonl", "3.jsonl"]
    with pytest.raises(FileNotFoundError, match="matches no file"):
        expand_paths(str(tmp_path / "missing*.jsonl"))
    (tmp_path / "data.csv").write_text("x")
    with pytest.raises(ValueError, match="use .jsonl, .json or .txt"):
        list(iter_units(tmp_path / "data.csv", ReaderConfig()))


def test_named_corpora_locations_come_from_flags_or_environment(tmp_path, monkeypatch):
    (tmp_path / "wiki.txt").write_text("doc one\ndoc two\n")
    with pytest.raises(ValueError, match="--corpus-path wikibook=PATH or set GLM_CORPUS_WIKIBOOK"):
        resolve_inputs(["wikibook"], ReaderConfig())
    by_flag = resolve_inputs(["wikibook"], ReaderConfig(), {"wikibook": str(tmp_path)})
    monkeypatch.setenv(corpus_env_var("wikibook"), str(tmp_path / "wiki.txt"))
    by_env = resolve_inputs(["wikibook"], ReaderConfig())
    assert by_flag == by_env and by_env[0][1].txt_mode == "lines"
    assert docs(read(*by_env[0])) == ["doc one\n", "doc two\n"]
    assert corpus_env_var("cc-news") == "GLM_CORPUS_CC_NEWS"


def test_named_corpus_rules_filter_without_calling_records_bad(tmp_path):
    long = "x" * 120
    rows = [
        {"text": long, "meta": {"pile_set_name": "Pile-CC"}},
        {"text": long, "meta": {"pile_set_name": "Github"}},
        {"meta": {"pile_set_name": "Pile-CC"}},
    ]
    path = tmp_path / "pile.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    items = read(path, ReaderConfig(corpus="pile"))
    assert docs(items) == [long]
    assert [(p.reason, p.bad) for _, p in items if isinstance(p, Problem)] == [
        ("pile_set_Github", False),
        ("missing_key", True),
    ]
    news = tmp_path / "news.jsonl"
    row = {"title": "Title", "description": "Lead.", "maintext": "Lead. " + long}
    news.write_text(json.dumps(row) + "\n")
    assert docs(read(news, ReaderConfig(corpus="cc-news"))) == ["Title\nLead. " + long]
    assert set(NAMED_CORPORA) >= {"wikipedia", "wikibook", "pile", "wudao", "cc-news", "test"}


def test_punctuation_standardization():
    assert punctuation_standardization("\u201cHi\u201d \u2018a\u2019 1\u20132") == "\"Hi\" 'a' 1-2"
