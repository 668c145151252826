"""The pretraining batch sampler and loader: rank sharding, determinism, exact resume."""

import numpy as np
import pytest
import torch

from data_utils.blank_infilling import BlankInfillingCollator, InfillIds, MaskingConfig
from data_utils.samplers import PretrainBatchSampler, build_pretrain_loader


@pytest.mark.parametrize("shuffle", [False, True])
def test_ranks_share_global_batches_and_resume_exactly(shuffle):
    def run(rank, consumed=0):
        sampler = PretrainBatchSampler(
            1000, 4, rank, 3, consumed, total_samples=120, shuffle=shuffle, seed=9
        )
        return list(sampler)

    ranks = [run(r) for r in range(3)]
    assert all(len(batches) == 10 for batches in ranks)
    for j in range(10):
        together = sum((ranks[r][j] for r in range(3)), [])
        if not shuffle:
            assert together == list(range(12 * j, 12 * (j + 1)))
        assert all(0 <= i < 1000 for i in together)
    for r in range(3):
        assert run(r, consumed=48) == ranks[r][4:]
    assert run(0) == ranks[0]  # deterministic
    assert len(PretrainBatchSampler(1000, 4, 0, 3, 48, total_samples=120)) == 6


def test_sampler_errors():
    with pytest.raises(ValueError, match="multiple of the global micro-batch 8"):
        PretrainBatchSampler(100, 4, 0, 2, consumed_samples=10)
    with pytest.raises(ValueError, match="rank 2"):
        PretrainBatchSampler(100, 4, 2, 2)
    assert next(iter(PretrainBatchSampler(10, 4, 0, 1, consumed_samples=8))) == [8, 9, 0, 1]


class Samples(torch.utils.data.Dataset):
    """Sample i: [CLS] then tokens derived from i (a stand-in for BlockDataset)."""

    def __len__(self) -> int:
        return 10_000

    def __getitem__(self, i):
        rng = np.random.default_rng(i)
        tokens = np.concatenate(([5], rng.integers(100, 200, size=int(rng.integers(20, 60))), [1]))
        return tokens, np.ones_like(tokens)


def test_loader_resumes_at_a_consumed_sample_count():
    table = np.zeros(300, dtype=bool)
    table[150:] = True
    ids = InfillIds(eos=1, cls=5, mask=3, sop=6, eop=7, sentence_end=table, smask=8, gmask=9)
    config = MaskingConfig(bert_prob=0.4, gap_sentence_prob=0.3, task_mask=True)

    def batches(consumed, workers):
        collator = BlankInfillingCollator(config, ids, seed=2, dp_rank=1)
        loader = build_pretrain_loader(
            Samples(),
            collator,
            4,
            dp_rank=1,
            dp_world_size=2,
            consumed_samples=consumed,
            total_samples=80,
            num_workers=workers,
        )
        return list(loader)

    full = batches(0, 0)
    resumed = batches(40, 2)
    assert len(full) == 10 and len(resumed) == 5
    for a, b in zip(full[5:], resumed, strict=True):
        assert a.mode == b.mode
        for field in ("tokens", "targets", "loss_mask", "position_ids", "sep"):
            assert torch.equal(getattr(a, field), getattr(b, field))
