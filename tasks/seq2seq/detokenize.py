"""Undoing the tokenisation of preprocessed summarisation corpora, and GLM's fixes of outputs
before ROUGE.

CNN/DailyMail and Gigaword are distributed PTB-tokenised (``-LRB-``, two backticks for an
opening quote, `` n't``); GLM finetunes and evaluates on the detokenised text. ``<S_SEP>``
separates summary sentences: it is dropped from sources and becomes ``[SEP]`` in targets,
which the ROUGE metric splits on. Before ROUGE, GLM re-tokenised WordPiece outputs PTB-style
and put Gigaword's ``UNK`` back (``rouge_fix``).
"""

from __future__ import annotations

import string

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


def _digits(word: str) -> bool:
    return all(c.isdigit() or c == "," for c in word)


def _abbreviation_end(words: list[str], i: int) -> int | None:
    """At a "." after a one-letter word, followed by one letter and "." ("U . N ."): the
    index after the abbreviation, extended pair by pair as GLM's loop did (it looks at
    ``words[k + 1]`` and ``words[k + 2]``); None otherwise."""
    if not (i < len(words) - 2 and len(words[i + 1]) == 1 and words[i + 1].isalpha()):
        return None
    if words[i + 2] != ".":
        return None
    k = i + 3
    while k + 2 < len(words) and len(words[k + 1]) == 1 and words[k + 1].isalpha():
        if words[k + 2] != ".":
            break
        k += 2
    return k


def _hyphen(out: list[str], words: list[str], i: int) -> tuple[int, bool]:
    """A lone "-": "--" with the next one, kept alone at either end or between punctuation,
    else glued to the previous word (and the next word glued after it)."""
    if i + 1 < len(words) and words[i + 1] == "-":
        out.append("--")
        return i + 2, False
    if i == len(words) - 1 or i == 0:
        out.append("-")
        return i + 1, False
    # ``in`` on the punctuation string is GLM's substring test ("()" counts as punctuation)
    if out[-1] not in string.punctuation and words[i + 1][0] not in string.punctuation:
        out[-1] += "-"
        return i + 1, True
    out.append("-")
    return i + 1, False


def ptb_retokenize(text: str) -> str:
    """GLM's re-tokenisation of WordPiece output before ROUGE (its ``fix_tokenization`` for
    the BERT tokenizer): PTB quotes (`` '' ` '), ``n't`` and ``'s``/``'d``/``'ll`` split off,
    "..." and numbers ("3 , 000", "3 . 5") and abbreviations ("U . N .") re-joined, and
    hyphenated words re-joined. Word counts (the 4-word filter) depend on it."""
    words, out = text.split(), []
    double_open = single_open = glue = False
    i = 0
    while i < len(words):
        word, after = words[i], words[i + 1] if i + 1 < len(words) else None
        hyphen_glued = False
        if word == '"':
            out.append("''" if double_open else "``")
            double_open, i = not double_open, i + 1
        elif word == "'" and out and out[-1].endswith("n") and after == "t":
            out[-1] = out[-1][:-1]
            out.append("n't")
            i += 2
        elif word == "'" and after in ("s", "d", "ll"):
            out.append("'" + after)
            i += 2
        elif word == "'":
            out.append("'" if single_open else "`")
            single_open, i = not single_open, i + 1
        elif word == "." and words[i + 1 : i + 3] == [".", "."]:
            out.append("...")
            i += 3
        elif word == "," and out and _digits(out[-1]) and after is not None and _digits(after):
            out[-1] += "," + after
            i += 2
        elif word == "." and out and out[-1].isdigit() and after is not None and after.isdigit():
            out[-1] += "." + after
            i += 2
        elif (
            word == "."
            and out
            and len(out[-1]) == 1
            and out[-1].isalpha()
            and (end := _abbreviation_end(words, i))
        ):
            out[-1] += "".join(words[i:end])
            i = end
        elif word == "-":
            i, hyphen_glued = _hyphen(out, words, i)
        elif glue and out and word[0] not in string.punctuation:
            out[-1] += word
            i += 1
        else:
            out.append(word)
            i += 1
        glue = hyphen_glued
    return " ".join(out)


def rouge_fix(text: str, mode: str | None) -> str:
    """GLM's per-sentence fix before ROUGE: ``"ptb"`` (outputs of the BERT tokenizer),
    ``"gigaword"`` (``[UNK]`` back to ``UNK``) or None (as it is)."""
    if mode == "ptb":
        return ptb_retokenize(text)
    if mode == "gigaword":
        return text.replace("[UNK]", "UNK")
    return text
