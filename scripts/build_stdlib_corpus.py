"""Write an English corpus from the documentation every Python installation carries offline.

The language reference topics that `help()` shows (`pydoc_data.topics`) plus the docstrings of
the standard library's modules, classes and functions, as JSON lines `{"text": ...}`: a few MB
of real technical English, no download needed. Used by the README's main job.

    python scripts/build_stdlib_corpus.py --output work_dirs/demo/corpus.jsonl
"""

import argparse
import contextlib
import importlib
import importlib.util
import inspect
import io
import json
import pkgutil
import sys
import warnings
from pathlib import Path

# Modules whose import has side effects (a browser, a window, printed poems) or that are slow.
SKIPPED = {
    "antigravity",
    "this",
    "idlelib",
    "tkinter",
    "turtle",
    "turtledemo",
    "__main__",
    "ensurepip",
    "venv",
    "lib2to3",
    "pydoc_data",
}


def module_docs(name: str) -> list[str]:
    """The docstrings of a module and of its public classes, functions and methods."""
    try:
        with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
            warnings.simplefilter("ignore")
            module = importlib.import_module(name)
    except Exception:  # noqa: BLE001 - platform-specific modules are simply skipped
        return []
    docs = [inspect.getdoc(module) or ""]
    for attr, value in sorted(vars(module).items()):
        if attr.startswith("_") or getattr(value, "__module__", None) != name:
            continue
        if inspect.isclass(value) or inspect.isfunction(value) or inspect.isbuiltin(value):
            docs.append(f"{attr}: {inspect.getdoc(value) or ''}")
            if inspect.isclass(value):
                for method, member in sorted(vars(value).items()):
                    if not method.startswith("_") and callable(member):
                        docs.append(f"{attr}.{method}: {inspect.getdoc(member) or ''}")
    return [d for d in docs if len(d.split()) >= 8]


def prose(text: str) -> str:
    """The text with its line breaks and indentation folded into single spaces, so that a small
    model learns words rather than layout."""
    return " ".join(text.split())


def _skipped(name: str) -> bool:
    parts = name.split(".")
    return parts[0] in SKIPPED or "test" in name or any(p.startswith("_") for p in parts)


def module_names() -> list[str]:
    """The standard library's public modules, the submodules of its packages included
    (``email.message``, ``asyncio.tasks``, ...): they carry as much prose again."""
    names = []
    for name in sorted(sys.stdlib_module_names):
        if _skipped(name):
            continue
        names.append(name)
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            found = pkgutil.walk_packages(
                spec.submodule_search_locations, f"{name}.", lambda _: None
            )
            names += sorted(info.name for info in found if not _skipped(info.name))
    return names


def documents() -> list[str]:
    from pydoc_data.topics import topics

    texts = [prose(text) for _, text in sorted(topics.items())]
    for name in module_names():
        docs = module_docs(name)
        if docs:
            texts.append(prose("\n\n".join(docs)))
    return texts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", required=True, help="JSON lines file to write")
    args = parser.parse_args()
    texts = documents()
    output = Path(args.output)
    output.parent.mkdir(parents=True, exist_ok=True)
    with open(output, "w") as handle:
        for text in texts:
            handle.write(json.dumps({"text": text}) + "\n")
    size = output.stat().st_size / 1e6
    print(f"wrote {output}: {len(texts)} documents, {size:.1f} MB")


if __name__ == "__main__":
    main()
