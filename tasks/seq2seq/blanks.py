"""Multi-span tasks: ``extraction`` (given blanks) and ``blank`` (Yahoo text infilling).

The source is ``[CLS] text [eos]`` with a mask token per blank; Part B holds one span per
mask, in order: ``[sop] blank`` predicting ``blank [eop]``, at that mask's position with block
positions restarting at 1. ``extraction`` sources mark blanks with ``[MASK]`` and the target
line lists them, separated by ``|``. ``blank`` masks ``int(n * ratio)`` random whitespace
words of each text (seeded per example), merging adjacent masked words into one blank; its
test sources come with their blanks marked (``<blank>``) in
``blank/test.maskratio{ratio:.1f}.blank``.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from pathlib import Path

from tasks.seq2seq.inputs import EncodedExample, Seq2SeqTokens, encode_target
from tasks.seq2seq.readers import Seq2SeqExample
from tasks.task_io import read_lines


def encode_blanks(
    uid: int,
    text: str,
    blanks: Sequence[str],
    reference: str,
    tokenizer,
    tokens: Seq2SeqTokens,
    lengths: tuple[int, int],
) -> EncodedExample:
    """``text`` holds the mask token's string once per blank; a source cut to
    ``--src-seq-length`` loses the blanks whose masks fell off."""
    src_len, tgt_len = lengths
    ids = [tokens.cls, *tokenizer.encode(text)][: src_len - 1] + [tokens.eos]
    masks = tuple(i for i, t in enumerate(ids) if t == tokens.mask)
    targets = tuple(encode_target(tokenizer, b, tokens.eop, tgt_len) for b in blanks)
    return EncodedExample(uid, tuple(ids), masks, targets[: len(masks)], reference)


def encode_extraction(
    examples: Sequence[Seq2SeqExample],
    source_file: Path,
    tokenizer,
    tokens: Seq2SeqTokens,
    lengths: tuple[int, int],
) -> list[EncodedExample]:
    """Sources with ``[MASK]`` blanks (``tokens.mask`` must be ``[MASK]``); targets
    ``blank1|blank2|...``."""
    encoded = []
    for ex in examples:
        blanks = [b.strip() for b in ex.target.split("|")]
        masks = tokenizer.encode(ex.source).count(tokens.mask)
        if masks != len(blanks):
            raise ValueError(
                f"{source_file}:{ex.uid + 1}: {masks} [MASK] in the source but "
                f"{len(blanks)} blanks in the target (separate blanks with |)"
            )
        encoded.append(
            encode_blanks(ex.uid, ex.source, blanks, ex.target, tokenizer, tokens, lengths)
        )
    return encoded


def mask_words(text: str, ratio: float, rng: random.Random, mask: str) -> tuple[str, list[str]]:
    """Replace ``int(n * ratio)`` random words by ``mask``; adjacent masked words form one
    blank. Returns the masked text and the blanks in order."""
    words = text.split()
    chosen = set(rng.sample(range(len(words)), int(len(words) * ratio)))
    kept: list[str] = []
    blanks: list[str] = []
    for i, word in enumerate(words):
        if i not in chosen:
            kept.append(word)
        elif i - 1 in chosen:
            blanks[-1] += " " + word
        else:
            kept.append(mask)
            blanks.append(word)
    return " ".join(kept), blanks


def encode_blank_split(
    folder: Path,
    split: str,
    ratio: float,
    seed: int,
    tokenizer,
    tokens: Seq2SeqTokens,
    lengths: tuple[int, int],
) -> list[EncodedExample]:
    """``{split}.txt`` texts, masked here (train/valid) or from the ``.blank`` file (test)."""
    # GLM's reader turned the Yahoo data's ``_UNK`` into ``[UNK]`` in every text
    texts = [
        t.strip().replace("_UNK", "[UNK]")
        for t in read_lines(folder / f"{split}.txt", "one text per line")
    ]
    mask = tokenizer.decode([tokens.mask])
    if split != "test":
        encoded = []
        for uid, text in enumerate(texts):
            masked, blanks = mask_words(text, ratio, random.Random(f"{seed}:{split}:{uid}"), mask)
            encoded.append(encode_blanks(uid, masked, blanks, text, tokenizer, tokens, lengths))
        return encoded
    blank_file = folder / "blank" / f"test.maskratio{ratio:.1f}.blank"
    sources = read_lines(blank_file, "test texts with <blank> marks")
    if len(sources) != len(texts):
        raise ValueError(
            f"{blank_file} has {len(sources)} lines but {folder / 'test.txt'} has {len(texts)}"
        )
    return [
        encode_blanks(
            uid,
            s.replace("<blank>", mask).replace("_UNK", "[UNK]"),
            [],
            t,
            tokenizer,
            tokens,
            lengths,
        )
        for uid, (s, t) in enumerate(zip(sources, texts, strict=True))
    ]
