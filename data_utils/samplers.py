"""Which samples each data-parallel rank reads, resumable from a consumed-sample count.

Global micro-batch `j` is the samples `j*G .. (j+1)*G - 1` with `G = micro_batch_size *
dp_world_size`; rank `r` reads the `r`-th slice of `micro_batch_size`. The dataset draws sample
`i` from `(seed, i)`, so consecutive indices are already random (GLM's default
`SequentialSampler`); with `--shuffle`, batch `j`'s indices are drawn with replacement from a
generator seeded by `(seed, j)` instead (GLM's `RandomSampler(replacement=True)`). Either way
the indices depend only on `j`, so resuming at a consumed-sample count replays the same stream.
"""

from collections.abc import Iterator

import numpy as np
import torch.utils.data


class PretrainBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Batch sampler of this rank's micro-batches, from `consumed_samples` on."""

    def __init__(
        self,
        dataset_length: int,
        micro_batch_size: int,
        dp_rank: int = 0,
        dp_world_size: int = 1,
        consumed_samples: int = 0,
        total_samples: int | None = None,
        shuffle: bool = False,
        seed: int = 0,
    ) -> None:
        if not 0 <= dp_rank < dp_world_size:
            raise ValueError(f"data-parallel rank {dp_rank} is not in [0, {dp_world_size})")
        self.global_batch = micro_batch_size * dp_world_size
        if consumed_samples % self.global_batch:
            raise ValueError(
                f"consumed samples {consumed_samples} is not a multiple of the global micro-batch "
                f"{self.global_batch} (--batch-size x data-parallel size)"
            )
        self.length, self.micro = dataset_length, micro_batch_size
        self.rank, self.consumed, self.total = dp_rank, consumed_samples, total_samples
        self.shuffle, self.seed = shuffle, seed

    @property
    def first_batch(self) -> int:
        """Index of the first global micro-batch this sampler yields (the collator's state)."""
        return self.consumed // self.global_batch

    def batch(self, j: int) -> list[int]:
        """This rank's dataset indices of global micro-batch `j`."""
        if self.shuffle:
            draw = np.random.default_rng([self.seed, j]).integers(0, self.length, self.global_batch)
            return draw[self.rank * self.micro : (self.rank + 1) * self.micro].tolist()
        start = j * self.global_batch + self.rank * self.micro
        return [(start + k) % self.length for k in range(self.micro)]

    def __iter__(self) -> Iterator[list[int]]:
        j = self.first_batch
        while self.total is None or j * self.global_batch < self.total:
            yield self.batch(j)
            j += 1

    def __len__(self) -> int:
        if self.total is None:
            raise TypeError("an endless sampler has no length: pass total_samples")
        return max(0, -(-(self.total - self.consumed) // self.global_batch))


def build_pretrain_loader(
    dataset: torch.utils.data.Dataset,
    collate_fn,
    micro_batch_size: int,
    dp_rank: int = 0,
    dp_world_size: int = 1,
    consumed_samples: int = 0,
    total_samples: int | None = None,
    num_workers: int = 2,
    shuffle: bool = False,
    seed: int = 0,
    pin_memory: bool = False,
) -> torch.utils.data.DataLoader:
    """A DataLoader of `GLMBatch`es that resumes exactly at `consumed_samples`.

    `collate_fn` is a `BlankInfillingCollator`; it is set to the sampler's first batch here.
    Starting an iterator draws the workers' base seed from the loader's own generator, never
    from torch's global one: the global stream drives dropout, and a resumed run restores it
    after its loaders are built, so drawing from it here would shift every later mask.
    """
    sampler = PretrainBatchSampler(
        len(dataset),
        micro_batch_size,
        dp_rank,
        dp_world_size,
        consumed_samples,
        total_samples,
        shuffle,
        seed,
    )
    collate_fn.set_state(sampler.first_batch)
    return torch.utils.data.DataLoader(
        dataset,
        batch_sampler=sampler,
        collate_fn=collate_fn,
        num_workers=num_workers,
        pin_memory=pin_memory,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(seed),
    )
