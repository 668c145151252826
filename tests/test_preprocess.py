"""Preprocessing end to end: shared corpora and a salted corpus into token stores."""

import filecmp
import json
import os

import nltk
import numpy as np
import pytest

from data_utils.corpora import ReaderConfig, punctuation_standardization
from data_utils.preprocess import BadRecordError, PreprocessConfig, main, preprocess
from data_utils.token_store import TokenStore, TokenStoreWriter, token_dtype, tokenizer_fingerprint
from data_utils.tokenization import TokenizerConfig, build_tokenizer


@pytest.fixture(scope="module", autouse=True)
def punkt_data(shared_dir):
    """Point nltk (and forked workers) at the shared punkt data, never a download."""
    path = str(shared_dir / "nltk_data")
    saved_env, saved_path = os.environ.get("NLTK_DATA"), list(nltk.data.path)
    os.environ["NLTK_DATA"] = path
    nltk.data.path[:] = [path]
    yield
    nltk.data.path[:] = saved_path
    if saved_env is None:
        os.environ.pop("NLTK_DATA")
    else:
        os.environ["NLTK_DATA"] = saved_env


@pytest.fixture(scope="module")
def gpt2_config(vocab_dir):
    return TokenizerConfig(tokenizer_type="GPT2BPETokenizer", tokenizer_path=str(vocab_dir))


@pytest.fixture(scope="module")
def gpt2(gpt2_config):
    return build_tokenizer(gpt2_config)


def _paragraphs(path) -> list[str]:
    return [p.strip() for p in path.read_text().split("\n\n") if p.strip()]


@pytest.fixture(scope="module")
def english_store(tmp_path_factory, shared_dir, gpt2_config):
    out = tmp_path_factory.mktemp("stores") / "english"
    inputs = tuple(
        str(shared_dir / "corpora" / n) for n in ("moby_dick.txt", "tinyshakespeare.txt")
    )
    config = PreprocessConfig(inputs, str(out), gpt2_config, workers=2, progress=False)
    return preprocess(config), TokenStore(out)


def test_english_corpora_end_to_end(english_store, shared_dir, gpt2):
    report, store = english_store
    corpora = shared_dir / "corpora"
    texts = _paragraphs(corpora / "moby_dick.txt") + _paragraphs(corpora / "tinyshakespeare.txt")
    assert len(store) == report.documents == len(texts) and not report.bad
    assert store.header["num_tokens"] == report.tokens == len(store.tokens)
    assert store.tokens.dtype == np.uint16
    for i in np.random.default_rng(0).choice(len(texts), 40, replace=False):
        text = punctuation_standardization(texts[i])
        np.testing.assert_array_equal(store.document(i), gpt2.encode(text))
        starts = store.sentence_starts(i)
        assert starts[0] == 0 and (np.diff(starts) > 0).all() and starts[-1] < len(text)
        assert not store.loss_mask(i).size or store.loss_mask(i).all()
    ends = gpt2.sentence_end_table()[store.tokens[store.sentence_offsets[1:] - 1]]
    assert ends.mean() > 0.9  # almost every sentence follows sentence-end punctuation


def test_chinese_corpus_splits_after_chinese_punctuation(tmp_path, shared_dir, vocab_dir):
    source = shared_dir / "corpora" / "cmrc2018_contexts_zh.txt"
    lines = source.read_text().splitlines()
    tok_config = TokenizerConfig(
        tokenizer_type="ChineseSPTokenizer", tokenizer_path=str(vocab_dir), task_mask=True
    )
    reader = ReaderConfig(txt_mode="lines")
    config = PreprocessConfig(
        (str(source),), str(tmp_path / "zh"), tok_config, reader, progress=False
    )
    report = preprocess(config)
    store, tok = TokenStore(tmp_path / "zh"), build_tokenizer(tok_config)
    assert len(store) == report.documents == len(lines)
    table = tok.sentence_end_table()
    for i in (0, 7, len(lines) - 1):
        tokens = store.document(i)
        np.testing.assert_array_equal(tokens, tok.encode(lines[i].strip()))
        starts = store.sentence_starts(i)
        assert len(starts) > 1 and table[tokens[starts[1:] - 1]].all()


def test_rerun_and_worker_count_give_identical_stores(tmp_path, shared_dir, gpt2_config):
    text = (shared_dir / "corpora" / "moby_dick.txt").read_text()[:40_000]
    source = tmp_path / "part.txt"
    source.write_text(text)
    outs = []
    for name, workers in (("a", 1), ("b", 2), ("c", 2)):
        config = PreprocessConfig(
            (str(source),),
            str(tmp_path / name),
            gpt2_config,
            workers=workers,
            progress=False,
            chunk_bytes=20_000,
        )
        preprocess(config)
        outs.append(tmp_path / name)
    for other in outs[1:]:
        match, mismatch, errors = filecmp.cmpfiles(outs[0], other, os.listdir(outs[0]), False)
        assert len(match) == 5 and not mismatch and not errors


BIG_DOC = "lorem ipsum dolor sit amet, consectetur adipiscing elit sed do eiusmod\n" * 140_000


def _salted_corpus(path, shared_dir) -> tuple[list[str], dict]:
    """Good documents with every kind of bad line in between; returns good texts, bad lines."""
    good = _paragraphs(shared_dir / "corpora" / "tinyshakespeare.txt")[:60]
    bad = {
        3: b'{"text": "unterminated',
        9: b'{"text": "bad \xff\xfe bytes"}',
        15: b'{"text": ""}',
        21: b"",
        27: b'{"content": "wrong key"}',
        33: b'"just a string"',
    }
    lines, texts, kinds = [], [], iter(bad)
    next_bad = next(kinds)
    while good or next_bad:
        if next_bad == len(lines) + 1:
            lines.append(bad[next_bad])
            next_bad = next(kinds, None)
        elif len(lines) == 40:
            lines.append(json.dumps({"text": BIG_DOC}).encode())
            texts.append(BIG_DOC)
        else:
            texts.append(good.pop(0))
            lines.append(json.dumps({"text": texts[-1]}).encode())
    path.write_bytes(b"\n".join(lines) + b"\n")
    return texts, bad


def test_salted_corpus_reports_every_bad_line_and_keeps_every_good_document(
    tmp_path, shared_dir, gpt2_config, gpt2
):
    source = tmp_path / "salted.jsonl"
    texts, bad = _salted_corpus(source, shared_dir)
    config = PreprocessConfig(
        (str(source),), str(tmp_path / "s"), gpt2_config, workers=2, progress=False
    )
    report = preprocess(config)
    reasons = ["invalid_json", "invalid_utf8", "empty", "empty", "missing_key", "not_an_object"]
    assert [(b.line, b.reason) for b in report.bad_lines] == list(zip(bad, reasons, strict=True))
    assert report.bad == {
        "invalid_json": 1,
        "invalid_utf8": 1,
        "empty": 2,
        "missing_key": 1,
        "not_an_object": 1,
    }
    assert all(b.source == str(source) for b in report.bad_lines)
    store = TokenStore(tmp_path / "s")
    assert len(store) == len(texts) == 60 + 1
    big = texts.index(BIG_DOC)
    assert len(store.document(big)) > 2_000_000
    assert (
        gpt2.decode(store.document(big)[:200])
        == BIG_DOC.strip()[: len(gpt2.decode(store.document(big)[:200]))]
    )
    for i in (0, big - 1, big + 1, len(texts) - 1):
        np.testing.assert_array_equal(
            store.document(i), gpt2.encode(punctuation_standardization(texts[i]))
        )
    assert store.header["stats"]["bad_records"]["empty"] == 2
    assert "empty: " in report.summary() and f"{source}:15" in report.summary()


def test_strict_stops_at_the_first_bad_record_and_leaves_nothing(tmp_path, gpt2_config):
    source = tmp_path / "c.jsonl"
    source.write_text('{"text": "fine"}\n{"text": \n{"text": "never reached"}\n')
    out = tmp_path / "strict"
    config = PreprocessConfig((str(source),), str(out), gpt2_config, strict=True, progress=False)
    with pytest.raises(BadRecordError, match=r"c\.jsonl:2: invalid_json"):
        preprocess(config)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_interrupted_run_leaves_no_store(tmp_path, gpt2_config, monkeypatch):
    source = tmp_path / "c.jsonl"
    source.write_text("".join(json.dumps({"text": f"doc {i}."}) + "\n" for i in range(10)))
    calls = []

    def interrupt(self, *args):
        calls.append(1)
        if len(calls) == 3:
            raise KeyboardInterrupt

    monkeypatch.setattr(TokenStoreWriter, "add", interrupt)
    with pytest.raises(KeyboardInterrupt):
        preprocess(
            PreprocessConfig((str(source),), str(tmp_path / "s"), gpt2_config, progress=False)
        )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["c.jsonl"]


def test_store_guards(tmp_path, gpt2, vocab_dir):
    path = tmp_path / "store"
    with TokenStoreWriter(
        path,
        token_dtype(gpt2.num_tokens),
        {"name": "gpt2", "fingerprint": tokenizer_fingerprint(gpt2)},
    ) as w:
        w.add(np.array([5, 6, 7]), np.array([0, 2]), prompt_length=1)
    store = TokenStore(path, tokenizer_fingerprint(gpt2))
    assert store.document(0).tolist() == [5, 6, 7] and store.loss_mask(0).tolist() == [0, 1, 1]
    assert store.sentence_starts(0).tolist() == [0, 2]
    with pytest.raises(FileExistsError, match="--overwrite"):
        TokenStoreWriter(path, np.uint16, {})
    bert = build_tokenizer(
        TokenizerConfig(tokenizer_path=str(vocab_dir), tokenizer_model_type="bert-base-uncased")
    )
    with pytest.raises(ValueError, match="was built with tokenizer gpt2"):
        TokenStore(path, tokenizer_fingerprint(bert))
    (path / "tokens.bin").write_bytes(b"\0\0")
    with pytest.raises(ValueError, match="truncated"):
        TokenStore(path)
    with pytest.raises(FileNotFoundError, match="not a token store"):
        TokenStore(tmp_path)
    assert [token_dtype(n) for n in (256, 30592, 70000)] == [np.uint8, np.uint16, np.uint32]


def test_missing_punkt_data_names_nltk_data(tmp_path, gpt2_config, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    source = tmp_path / "c.txt"
    source.write_text("Some text.\n")
    with pytest.raises(FileNotFoundError, match="NLTK_DATA"):
        preprocess(
            PreprocessConfig((str(source),), str(tmp_path / "s"), gpt2_config, progress=False)
        )


def test_token_sentence_splitter_needs_no_nltk_data(tmp_path, gpt2_config, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", [str(tmp_path)])
    source = tmp_path / "c.txt"
    source.write_text("First sentence. Second one! And a third?\n")
    config = PreprocessConfig(
        (str(source),), str(tmp_path / "s"), gpt2_config, sentence_splitter="tokens", progress=False
    )
    preprocess(config)
    store = TokenStore(tmp_path / "s")
    assert len(store) == 1 and len(store.sentence_starts(0)) == 3


def test_cli(tmp_path, vocab_dir, caplog, capsys):
    source = tmp_path / "c.jsonl"
    source.write_text('{"body": "One. Two."}\n{"body": 3}\n')
    args = [
        "--input",
        str(source),
        "--output",
        str(tmp_path / "s"),
        "--text-key",
        "body",
        "--tokenizer-type",
        "GPT2BPETokenizer",
        "--tokenizer-path",
        str(vocab_dir),
        "--no-progress",
    ]
    with caplog.at_level("INFO"):
        assert main(args) == 0
    assert "1 documents" in caplog.text and "not_text 1" in caplog.text
    assert (tmp_path / "s.bad_records.tsv").read_text() == f"{source}\t2\tnot_text\n"
    for argv, message in (
        (args, "--overwrite"),
        ([*args, "--overwrite", "--input", str(tmp_path / "nope.jsonl")], "matches no file"),
    ):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
