"""Output-path checks (common.paths) and worded write errors (common.errors)."""

from __future__ import annotations

import errno
import os

import pytest

from common.errors import WriteError, reporting_write_errors
from common.paths import check_not_an_input, check_output_file
from data_utils.token_store import check_replaceable


def test_an_output_that_is_an_input_is_refused_whatever_its_spelling(tmp_path, monkeypatch):
    text = tmp_path / "texts.txt"
    text.write_text("a\n")
    (tmp_path / "link.txt").symlink_to("texts.txt")
    os.link(text, tmp_path / "hard.txt")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    for spelling in ("../texts.txt", str(tmp_path / "link.txt"), str(tmp_path / "hard.txt")):
        with pytest.raises(ValueError, match="--output-file .* is --input-file"):
            check_not_an_input(("--output-file", spelling), [("--input-file", text)])
    check_not_an_input(("--output-file", "../other.txt"), [("--input-file", text)])


def test_a_folder_output_may_not_hold_an_input(tmp_path):
    with pytest.raises(ValueError, match="holds --input"):
        check_not_an_input(("--output", tmp_path), [("--input", tmp_path / "a.txt")], folder=True)


def test_output_file_needs_an_existing_folder_and_no_folder_at_its_name(tmp_path):
    with pytest.raises(FileNotFoundError, match="create it first"):
        check_output_file(tmp_path / "missing" / "out.jsonl", "--output-file")
    with pytest.raises(IsADirectoryError, match="is a folder"):
        check_output_file(tmp_path, "--output-file")
    check_output_file(tmp_path / "out.jsonl", "--output-file")


def test_overwrite_replaces_only_a_token_store(tmp_path):
    thesis = tmp_path / "thesis"
    thesis.mkdir()
    (thesis / "thesis.txt").write_text("four years")
    with pytest.raises(FileExistsError, match="not a token store .*thesis.txt"):
        check_replaceable(thesis, overwrite=True)
    check_replaceable(tmp_path / "new", overwrite=False)


@pytest.mark.parametrize(
    ("code", "fix"), [(errno.ENOSPC, "free some space"), (errno.EACCES, "permissions")]
)
def test_a_failed_write_names_the_file_and_the_fix(tmp_path, code, fix):
    expected = f"cannot write the store {tmp_path}.*{fix}"
    with pytest.raises(WriteError, match=expected), reporting_write_errors(tmp_path, "the store"):
        raise OSError(code, os.strerror(code))
    # Not a write failure: it passes through unchanged.
    with pytest.raises(KeyError), reporting_write_errors(tmp_path, "the store"):
        raise KeyError("x")


def test_disk_full_while_preprocessing_is_one_line_and_leaves_nothing(
    tmp_path, vocab_dir, monkeypatch, capsys
):
    from data_utils import preprocess
    from data_utils.token_store import TokenStoreWriter

    def full(*_args) -> None:
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(TokenStoreWriter, "add", full)
    (tmp_path / "corpus.txt").write_text("Call me Ishmael. Some years ago I went to sea.\n")
    out = tmp_path / "wiki.store"
    argv = ["--input", str(tmp_path / "corpus.txt"), "--output", str(out), "--no-progress"]
    argv += ["--tokenizer-type", "BertWordPieceTokenizer", "--tokenizer-path", str(vocab_dir)]
    argv += ["--tokenizer-model-type", "bert-base-uncased", "--sentence-splitter", "tokens"]
    with pytest.raises(SystemExit) as done:
        preprocess.main(argv)
    assert done.value.code == 2
    last = capsys.readouterr().err.strip().splitlines()[-1]
    assert f"cannot write the token store --output {out}" in last
    assert "free some space" in last
    assert sorted(p.name for p in tmp_path.iterdir()) == ["corpus.txt"]
