"""Where pretraining finds its token stores: ``--train-data`` entries to store folders.

An entry is a token store folder (``scripts/preprocess_data.py --output``), or one of GLM's
corpus names (``wikibook``, ``pile``, ...), whose store is ``$GLM_DATA_DIR/<name>`` (default
``data/<name>``): the folder ``preprocess_data.py --input <name> --output data/<name>`` writes.
"""

import os
from collections.abc import Sequence
from pathlib import Path

from data_utils.corpora import NAMED_CORPORA
from data_utils.token_store import TokenStore


def resolve_stores(entries: Sequence[str], flag: str = "--train-data") -> list[str]:
    """Store folders for ``entries`` of ``flag``; a missing one is an error saying how to build
    it."""
    stores = []
    for entry in entries:
        path = Path(entry)
        if not path.exists() and entry in NAMED_CORPORA:
            path = Path(os.environ.get("GLM_DATA_DIR", "data")) / entry
        if not (path / "header.json").is_file():
            what = "a folder without header.json" if path.is_dir() else "no such folder"
            raise FileNotFoundError(
                f"no token store at {path} for {flag} {entry} ({what}): build it with "
                f"`python scripts/preprocess_data.py --input <corpus files> --output {path}` "
                "(corpus names read GLM_CORPUS_<NAME>; stores of names live in $GLM_DATA_DIR)"
            )
        stores.append(str(path))
    return stores


def check_stores(entries_by_flag: dict[str, Sequence[str]]) -> None:
    """Open every store named by each flag (header, file sizes, offsets): a damaged store is
    reported, naming its flag, before any expensive set-up instead of when it is first read."""
    for flag, entries in entries_by_flag.items():
        for store in resolve_stores(entries, flag):
            try:
                TokenStore(store)
            except (OSError, ValueError) as error:
                raise ValueError(f"{flag} {store}: {error}") from None
