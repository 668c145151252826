"""Where pretraining finds its token stores: ``--train-data`` entries to store folders.

An entry is a token store folder (``scripts/preprocess_data.py --output``), or one of GLM's
corpus names (``wikibook``, ``pile``, ...), whose store is ``$GLM_DATA_DIR/<name>`` (default
``data/<name>``): the folder ``preprocess_data.py --input <name> --output data/<name>`` writes.
"""

import os
from collections.abc import Sequence
from pathlib import Path

from data_utils.corpora import NAMED_CORPORA


def resolve_stores(entries: Sequence[str], flag: str = "--train-data") -> list[str]:
    """Store folders for ``entries``; a missing one is an error that says how to build it."""
    stores = []
    for entry in entries:
        path = Path(entry)
        if not path.exists() and entry in NAMED_CORPORA:
            path = Path(os.environ.get("GLM_DATA_DIR", "data")) / entry
        if not (path / "header.json").is_file():
            raise FileNotFoundError(
                f"no token store at {path} for {flag} {entry}: build it with "
                f"`python scripts/preprocess_data.py --input <corpus files> --output {path}` "
                "(corpus names read GLM_CORPUS_<NAME>; stores of names live in $GLM_DATA_DIR)"
            )
        stores.append(str(path))
    return stores
