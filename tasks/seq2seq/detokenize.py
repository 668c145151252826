"""Undoing the tokenisation of preprocessed summarisation corpora, and light output fixes.

CNN/DailyMail and Gigaword are distributed PTB-tokenised (``-LRB-``, two backticks for an
opening quote, `` n't``); GLM finetunes and evaluates on the detokenised text. ``<S_SEP>``
separates summary sentences: it is dropped from sources and becomes ``[SEP]`` in targets,
which the ROUGE metric splits on.
"""

from __future__ import annotations

import re

_BRACKETS = {"LRB": "(", "RRB": ")", "LSB": "[", "RSB": "]", "LCB": "{", "RCB": "}"}
_CNNDM = (
    *((f"-{name}-", char) for name, char in _BRACKETS.items()),
    ("''", '"'),
    ("``", '"'),
    ("`", "'"),
    (" n't", "n't"),
    (" 's", "'s"),
    (" 'd", "'d"),
    (" 'll", "'ll"),
)
# GLM's order: brackets, then the HTML entities (``&amp;lt;`` thus ends as ``<``).
_GIGAWORD = (
    *((f"-{name.lower()}-", char) for name, char in _BRACKETS.items()),
    ("&amp;", "&"),
    ("&lt;", "<"),
    ("&gt;", ">"),
)


def _replace_all(text: str, table: tuple[tuple[str, str], ...]) -> str:
    for old, new in table:
        text = text.replace(old, new)
    return text


def detokenize_cnndm(text: str, is_target: bool) -> str:
    """GLM's CNN/DM detokenisation. Spaces are left as they are: a source's removed
    ``<S_SEP>`` leaves two, which GLM tokenised as such."""
    text = text.replace("<S_SEP>", "[SEP]" if is_target else "")
    return _replace_all(text, _CNNDM)


def detokenize_gigaword(text: str) -> str:
    """GLM's Gigaword detokenisation: every ``UNK`` (also inside a word, as GLM did) and
    ``<unk>`` become ``[UNK]``, then brackets and HTML entities are restored."""
    text = text.replace("UNK", "[UNK]").replace("<unk>", "[UNK]")
    return _replace_all(text, _GIGAWORD)


_SPACE_BEFORE = re.compile(r" ([,.!?;:%)\]}]|'s|'re|'ve|'ll|'d|'m|n't)(?=\s|$)")
_SPACE_AFTER = re.compile(r"([(\[{$]) ")
_NUMBER_GAPS = re.compile(r"(\d) ([,.]) (\d)")
_DASH_GAPS = re.compile(r"(\w) - (\w)")


def fix_tokenization(text: str) -> str:
    """Re-join what a WordPiece decode leaves apart (``" it ' s 1 , 000 - year "``)."""
    text = re.sub(r" ' (s|re|ve|ll|d|m|t)\b", r"'\1", text)
    text = _NUMBER_GAPS.sub(r"\1\2\3", text)
    text = _DASH_GAPS.sub(r"\1-\2", text)
    text = _SPACE_BEFORE.sub(r"\1", text)
    return _SPACE_AFTER.sub(r"\1", text).strip()
