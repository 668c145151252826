"""The WikiText detokenizer: turns the tokenized WikiText form back into plain text.

WikiText ships space-separated tokens (``1 @,@ 000``, ``word , word``, ``= = Heading = =``).
GLM (like Megatron) scores the text after undoing that, and reports perplexity per original
whitespace token. The rules are applied in this order; the order matters (``s '`` must become
``s'`` before quotes are trimmed).
"""

from __future__ import annotations

import re

_REPLACEMENTS_BEFORE = (
    ("s '", "s'"),
    (" @-@ ", "-"),
    (" @,@ ", ","),
    (" @.@ ", "."),
    (" : ", ": "),
    (" ; ", "; "),
    (" . ", ". "),
    (" ! ", "! "),
    (" ? ", "? "),
    (" , ", ", "),
)

# Spaces just inside brackets and quotes: "( 24 in )" -> "(24 in)".
_TRIMMED_PAIRS = (
    (re.compile(r"\(\s*([^\)]*?)\s*\)"), r"(\1)"),
    (re.compile(r"\[\s*([^\]]*?)\s*\]"), r"[\1]"),
    (re.compile(r"{\s*([^}]*?)\s*}"), r"{\1}"),
    (re.compile(r"\"\s*([^\"]*?)\s*\""), r'"\1"'),
    (re.compile(r"'\s*([^']*?)\s*'"), r"'\1'"),
)

_REPLACEMENTS_AFTER = (
    ("= = = =", "===="),
    ("= = =", "==="),
    ("= =", "=="),
    (" \N{DEGREE SIGN} ", "\N{DEGREE SIGN}"),
    (" \n", "\n"),
    ("\n ", "\n"),
    (" N ", " 1 "),
    (" 's", "'s"),
)


def wikitext_detokenize(text: str) -> str:
    for old, new in _REPLACEMENTS_BEFORE:
        text = text.replace(old, new)
    for pattern, replacement in _TRIMMED_PAIRS:
        text = pattern.sub(replacement, text)
    for old, new in _REPLACEMENTS_AFTER:
        text = text.replace(old, new)
    return text
