"""BlockDataset packing, document-level splits and the data config."""

import numpy as np
import pytest

from data_utils.datasets import (
    BlockDataset,
    DataConfig,
    PackingIds,
    build_block_datasets,
    parse_split,
    right_strip,
    split_documents,
)
from data_utils.token_store import TokenStore, TokenStoreWriter

EOS, CLS = 1, 2
END = np.zeros(200_000, dtype=bool)
END[7::10] = True  # token ids ending in 7 close a sentence
IDS = PackingIds(EOS, CLS, END)


def doc_tokens(d: int, length: int) -> np.ndarray:
    """Document d's ids are d*1000 + 10 + k, so every token says where it came from."""
    return d * 1000 + 10 + np.arange(length)


def write_store(path, lengths, prompt=0, fingerprint="x") -> TokenStore:
    with TokenStoreWriter(path, np.uint32, {"name": "test", "fingerprint": fingerprint}) as w:
        for d, n in enumerate(lengths):
            w.add(doc_tokens(d, n), np.array([0]), prompt_length=min(prompt, n))
    return TokenStore(path)


def source_docs(tokens: np.ndarray) -> set[int]:
    text = tokens[(tokens != EOS) & (tokens != CLS)]
    return set((text - 10) // 1000)


@pytest.fixture
def store(tmp_path):
    rng = np.random.default_rng(0)
    return write_store(tmp_path / "s", rng.integers(5, 300, size=60).tolist(), prompt=2)


def test_samples_are_packed_documents(store):
    config = DataConfig(seq_length=128)
    data = BlockDataset([store], np.arange(len(store)), config, IDS, seed=3)
    assert len(data) == 1000 * len(store)
    for idx in range(200):
        tokens, mask = data[idx]
        assert len(tokens) <= 128 and tokens[0] == CLS and mask[0] == 0
        assert len(tokens) == len(mask) and set(np.unique(mask)) <= {0, 1}
        assert (mask[tokens == CLS] == 0).all() and (mask[tokens == EOS] == 1).all()
        # each [CLS] opens consecutive tokens of one document; its first 2 are the prompt
        starts = np.flatnonzero(tokens == CLS)
        for a, b in zip(starts, [*starts[1:], len(tokens)], strict=True):
            where = np.arange(a + 1, b)
            where = where[tokens[where] != EOS]
            body = tokens[where]
            assert len(source_docs(body)) <= 1 and (np.diff(body) == 1).all()
            if len(body):
                within = body - doc_tokens((body[0] - 10) // 1000, 1)[0]
                np.testing.assert_array_equal(mask[where], within >= 2)
        np.testing.assert_array_equal(data[idx].tokens, tokens)
    assert not np.array_equal(data[0].tokens, data[1].tokens)


def test_long_documents_give_windows_near_sentence_starts(tmp_path):
    store = write_store(tmp_path / "long", [5000])
    data = BlockDataset([store], np.arange(1), DataConfig(seq_length=64), IDS, seed=1)
    for idx in range(100):
        tokens, mask = data[idx]
        assert tokens[0] == CLS and (mask[1:] == 1).all() and 32 <= len(tokens) <= 64
        body = tokens[1:]
        assert (np.diff(body) == 1).all()
        assert END[body[-1]] or len(body) == 63  # cut at a sentence end when one is near
    ones = BlockDataset([store], np.arange(1), DataConfig(seq_length=64), IDS, seed=1)
    assert np.array_equal(ones[5].tokens, data[5].tokens)


def test_sentence_start_snapping(tmp_path):
    store = write_store(tmp_path / "long", [5000])
    snapped = BlockDataset([store], np.arange(1), DataConfig(seq_length=64), IDS, seed=1)
    starts = [snapped[i].tokens[1] for i in range(200)]
    assert np.mean([END[s - 1] for s in starts]) > 0.95  # starts right after a sentence end
    raw = DataConfig(seq_length=64, non_sentence_start=1.0)
    anywhere = BlockDataset([store], np.arange(1), raw, IDS, seed=1)
    assert np.mean([END[anywhere[i].tokens[1] - 1] for i in range(200)]) < 0.3


def test_sample_one_document(store):
    config = DataConfig(seq_length=512, sample_one_document=True)
    data = BlockDataset([store], np.arange(len(store)), config, IDS, seed=0)
    for idx in range(50):
        tokens, _ = data[idx]
        assert (tokens == CLS).sum() == 1 and tokens[-1] == EOS


def test_right_strip():
    tokens = np.array([10, 17, 20, 21, 27, 30, 31, 32, 33])
    mask = np.ones_like(tokens)
    assert right_strip(tokens, mask, 7, END)[0].tolist() == [10, 17, 20, 21, 27]
    assert right_strip(tokens, mask, 20, END)[0].tolist() == tokens.tolist()
    no_end = np.arange(30, 40)
    assert len(right_strip(no_end, np.ones(10), 6, END)[0]) == 6


def test_split_is_per_document_disjoint_and_deterministic():
    parts = split_documents(1000, parse_split("949,50,1"))
    assert [len(p) for p in parts] == [949, 50, 1]
    assert len(np.unique(np.concatenate(parts))) == 1000
    again = split_documents(1000, parse_split("949,50,1"))
    assert all(np.array_equal(a, b) for a, b in zip(parts, again, strict=True))
    tiny = split_documents(3, parse_split("1000,1,1"))
    assert [len(p) for p in tiny] == [1, 1, 1]
    assert parse_split("0.9") == pytest.approx((0.9, 0.1, 0.0))
    assert parse_split("98/2") == pytest.approx((0.98, 0.02, 0.0))
    for bad in ("a,b", "1,-1", "0,0,0", "1,1,1,1"):
        with pytest.raises(ValueError, match="--split"):
            parse_split(bad)


def test_build_datasets_splits_documents(tmp_path):
    train = write_store(tmp_path / "train", [50] * 40)
    config = DataConfig(train_data=(str(train.path),), split="8,1,1", seq_length=64)
    sets = build_block_datasets(config, IDS, seed=1, fingerprint="x")
    docs = [set().union(*(source_docs(d[i].tokens) for i in range(100))) for d in sets]
    assert docs[0] and not docs[0] & docs[1] and not docs[0] & docs[2] and not docs[1] & docs[2]
    valid = write_store(tmp_path / "valid", [50] * 5)
    with_valid = DataConfig(
        train_data=(str(train.path),), valid_data=(str(valid.path),), split="8,1,1"
    )
    train_set, valid_set, test_set = build_block_datasets(with_valid, IDS, seed=1)
    assert len(valid_set.documents) == 5 and valid_set.stores[0].path == valid.path
    assert (len(train_set.documents), len(test_set.documents)) == (35, 5)  # 8:1 of 40
    with pytest.raises(ValueError, match="was built with tokenizer test"):
        build_block_datasets(config, IDS, seed=1, fingerprint="other")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(seq_length=2), "--seq-length"),
        (dict(non_sentence_start=2.0), "--non-sentence-start"),
        (dict(split="x"), "--split"),
        (dict(num_workers=-1), "--num-workers"),
    ],
)
def test_bad_data_config(kwargs, message):
    with pytest.raises(ValueError, match=message):
        DataConfig(**kwargs)
    with pytest.raises(ValueError, match="--train-data"):
        build_block_datasets(DataConfig(), IDS, seed=0)
