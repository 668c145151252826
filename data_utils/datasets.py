"""Pretraining samples from token stores: GLM's `BlockDataset` packing (spec §6.3-§6.5).

Sample `idx` is a pure function of `(seed, idx)`: a document is drawn with probability
proportional to its length; a long one yields a window starting near a sentence start, short
ones are packed as `[CLS] doc eos [CLS] doc eos ...` up to `--seq-length`, the last one cut at
a sentence end. Documents are split into train/valid/test (`--split`) before packing, so no
document feeds two splits. Sentence ends are the tokenizer's one predicate (spec §7.2), the same
one blank infilling uses.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

import numpy as np
import torch.utils.data

from data_utils.token_store import TokenStore

SPLIT_SEED = 1234  # GLM's fixed document permutation seed
SAMPLES_PER_DOCUMENT = 1000  # GLM's dataset length: effectively endless


class TextSample(NamedTuple):
    tokens: np.ndarray  # int64 [n <= seq_length], starts with [CLS]
    loss_mask: np.ndarray  # int64 [n]: 0 on [CLS] and prompt tokens


def parse_split(split: str) -> tuple[float, float, float]:
    """`--split` ('949,50,1', '98/2', or one fraction < 1) as three fractions summing to 1."""
    try:
        values = [float(v) for v in split.replace("/", ",").split(",")]
    except ValueError:
        raise ValueError(f"--split {split} must be numbers separated by ',' or '/'") from None
    if len(values) == 1 and values[0] < 1:
        values.append(1 - values[0])
    if len(values) > 3 or min(values) < 0 or sum(values) <= 0:
        raise ValueError(f"--split {split} needs 1-3 non-negative weights, not all zero")
    values += [0.0] * (3 - len(values))
    total = sum(values)
    return tuple(v / total for v in values)


@dataclass(frozen=True)
class DataConfig:
    """The data flags (spec §9, Data); store paths replace GLM's corpus names."""

    train_data: tuple[str, ...] = ()
    valid_data: tuple[str, ...] = ()
    test_data: tuple[str, ...] = ()
    split: str = "1000,1,1"
    seq_length: int = 512
    non_sentence_start: float = 0.0
    sample_one_document: bool = False
    num_workers: int = 2
    shuffle: bool = False

    def __post_init__(self) -> None:
        parse_split(self.split)
        if self.seq_length < 4:
            raise ValueError(f"--seq-length must be >= 4, got {self.seq_length}")
        if not 0.0 <= self.non_sentence_start <= 1.0:
            raise ValueError(
                f"--non-sentence-start must be in [0, 1], got {self.non_sentence_start}"
            )
        if self.num_workers < 0:
            raise ValueError(f"--num-workers must be >= 0, got {self.num_workers}")


@dataclass(frozen=True, eq=False)
class PackingIds:
    eos: int
    cls: int
    sentence_end: np.ndarray  # bool per token id (tokenizer.sentence_end_table())

    @classmethod
    def from_tokenizer(cls, tokenizer) -> "PackingIds":
        return cls(tokenizer.eos_id, tokenizer.cls_id, tokenizer.sentence_end_table())


def split_documents(
    num_documents: int, fractions: Sequence[float], seed: int = SPLIT_SEED
) -> list[np.ndarray]:
    """Document ids of each split: a seeded permutation cut with fractional carry-over.

    Every split with a positive fraction gets at least one document when there are enough.
    """
    counts, carry = [], 0.0
    for fraction in fractions:
        exact = fraction * num_documents + carry
        counts.append(int(exact))
        carry = exact - counts[-1]
    counts[int(np.argmax(counts))] += num_documents - sum(counts)  # float round-off
    for k, fraction in enumerate(fractions):
        biggest = int(np.argmax(counts))
        if fraction > 0 and counts[k] == 0 and counts[biggest] > 1:
            counts[biggest] -= 1
            counts[k] = 1
    order = np.random.default_rng(seed).permutation(num_documents)
    bounds = np.cumsum([0, *counts])
    return [np.sort(order[a:b]) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]


def right_strip(tokens: np.ndarray, mask: np.ndarray, n: int, sentence_end: np.ndarray):
    """Cut to at most `n` tokens, at the last sentence end if that keeps at least `n // 2`."""
    if len(tokens) <= n:
        return tokens, mask
    ends = np.flatnonzero(sentence_end[tokens[:n]])
    keep = int(ends[-1]) + 1 if len(ends) and ends[-1] + 1 >= n // 2 else n
    return tokens[:keep], mask[:keep]


class BlockDataset(torch.utils.data.Dataset):
    """`TextSample`s of at most `seq_length` tokens packed from the given documents."""

    def __init__(
        self,
        stores: Sequence[TokenStore],
        documents: np.ndarray,
        config: DataConfig,
        ids: PackingIds,
        seed: int,
        length: int | None = None,
    ) -> None:
        """`documents` are global ids over the concatenated `stores`."""
        if len(documents) == 0:
            raise ValueError("a dataset split has no documents: check --split and the data")
        self.stores, self.config, self.ids, self.seed = list(stores), config, ids, seed
        self.first_doc = np.cumsum([0] + [len(s) for s in self.stores])
        self.documents = np.asarray(documents, dtype=np.int64)
        lengths = np.concatenate([s.document_lengths for s in self.stores])[self.documents]
        self.cumulative = np.cumsum(lengths + 1)  # + eos
        self.length = length or SAMPLES_PER_DOCUMENT * len(self.documents)

    def __len__(self) -> int:
        return self.length

    def _random_document(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A document drawn by length, with `eos` appended (loss mask 1)."""
        pick = int(np.searchsorted(self.cumulative, rng.integers(self.cumulative[-1]), "right"))
        doc = int(self.documents[pick])
        store = int(np.searchsorted(self.first_doc, doc, "right")) - 1
        local = doc - int(self.first_doc[store])
        tokens = np.append(self.stores[store].document(local).astype(np.int64), self.ids.eos)
        mask = np.append(self.stores[store].loss_mask(local).astype(np.int64), 1)
        return tokens, mask

    def _sentence_start(self, tokens: np.ndarray, s: int, rng: np.random.Generator) -> int:
        """Move `s` left or right (coin flip) to just after a sentence end, at most seq/2 steps."""
        reach = self.config.seq_length // 2
        after_end = np.flatnonzero(self.ids.sentence_end[tokens[:-1]]) + 1
        if rng.random() < 0.5:
            left = after_end[(after_end <= s) & (after_end >= s - reach)]
            return int(left[-1]) if len(left) else max(s - reach, 0)
        right = after_end[(after_end >= s) & (after_end <= s + reach)]
        return min(int(right[0]) if len(right) else s + reach, len(tokens) - 2)

    def __getitem__(self, idx: int) -> TextSample:
        rng = np.random.default_rng([self.seed, int(idx)])
        n = self.config.seq_length
        tokens, mask = self._random_document(rng)
        cls = np.array([self.ids.cls])
        strip = len(tokens) - n + 1
        if strip > 0:  # a long document: one window of it
            s = int(rng.integers(strip))
            if rng.random() >= self.config.non_sentence_start:
                s = self._sentence_start(tokens, s, rng)
            tokens, mask = right_strip(
                np.concatenate((cls, tokens[s:])),
                np.concatenate(([0], mask[s:])),
                n,
                self.ids.sentence_end,
            )
            return TextSample(tokens, mask)
        parts, masks = [cls, tokens], [np.zeros(1, dtype=np.int64), mask]
        room = n - len(tokens) - 1
        while room > 0 and not self.config.sample_one_document:
            more, more_mask = self._random_document(rng)
            more, more_mask = right_strip(
                np.concatenate((cls, more)),
                np.concatenate(([0], more_mask)),
                room,
                self.ids.sentence_end,
            )
            parts.append(more)
            masks.append(more_mask)
            room -= len(more)
        return TextSample(np.concatenate(parts), np.concatenate(masks))


def open_stores(paths: Sequence[str], fingerprint: str | None) -> list[TokenStore]:
    return [TokenStore(p, fingerprint) for p in paths]


def build_block_datasets(
    config: DataConfig, ids: PackingIds, seed: int, fingerprint: str | None = None
) -> tuple[BlockDataset, BlockDataset | None, BlockDataset | None]:
    """Train/valid/test datasets: `--train-data` split by `--split`, unless a split has its own
    `--valid-data`/`--test-data`. `fingerprint` (token_store.tokenizer_fingerprint) rejects
    stores built with another tokenizer."""
    if not config.train_data:
        raise ValueError("--train-data is not set: give one or more token stores")
    stores = open_stores(config.train_data, fingerprint)
    fractions = list(parse_split(config.split))
    for k, own in ((1, config.valid_data), (2, config.test_data)):
        if own:
            fractions[k] = 0.0
    parts = split_documents(sum(len(s) for s in stores), [f / sum(fractions) for f in fractions])
    out = [BlockDataset(stores, parts[0], config, ids, seed)]
    for k, own in ((1, config.valid_data), (2, config.test_data)):
        if own:
            own_stores = open_stores(own, fingerprint)
            docs = np.arange(sum(len(s) for s in own_stores))
            out.append(BlockDataset(own_stores, docs, config, ids, seed + k))
        else:
            out.append(
                BlockDataset(stores, parts[k], config, ids, seed + k) if len(parts[k]) else None
            )
    return tuple(out)
