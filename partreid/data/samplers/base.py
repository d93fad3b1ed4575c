"""Identity-batch samplers, reproducible from any iteration.

BatchStreamSampler is the contract: the global batch (item indices and augmentation seeds) at
every iteration is a pure function of the seed and the iteration. A run resumed at iteration
`start_iter` thus sees exactly the batches (and augmentations) an uninterrupted run sees, and
under DDP each rank takes a contiguous shard of whole identities from the same global batch.

IdentityBatchSampler organises the stream in epochs of `iters_per_epoch` independent batches:
the global batch at (epoch e, iteration i of the epoch) draws its composition from
`default_rng([seed, e, i, 0])` and the augmentation seeds of its samples from
`SeedSequence([seed, e, i, 1])`. A sampler whose epoch is one pass over its data derives its
batches from the pass instead (cross_modality_pass.py).
"""
from abc import ABC, abstractmethod
from collections import defaultdict
from typing import Dict, Iterator, List, Optional, Sequence

import numpy as np

from ...config.configurable import config_arguments, configurable
from ...utils import comm
from ..common import SampleKey
from ..datasets.base import ReidItem

_COMPOSITION_STREAM = 0
_AUGMENTATION_STREAM = 1


class BatchStreamSampler(ABC):
    """Base of the P x K samplers: an endless stream of this rank's shard of every global batch
    (P identities x K images, identity by identity), from iteration `start_iter` on. Subclasses
    choose the usable identities and define `global_keys_at(iteration)`.

    Built as `cls(cfg, items, iters_per_epoch, start_iter)` (DATALOADER.*, SEED and the process
    group) or from explicit arguments. Its errors name the config keys in both cases: the
    arguments are the keys' values one for one."""

    @configurable
    def __init__(
        self,
        items: Sequence[ReidItem],
        num_identities: int,
        num_instances: int,
        iters_per_epoch: int,
        seed: int,
        start_iter: int = 0,
        rank: int = 0,
        world_size: int = 1,
    ):
        """
        Args:
            items: the training items the batches index.
            num_identities, num_instances: P identities x K images per global batch.
            iters_per_epoch: iterations in one epoch (batches are a function of (epoch, iteration)).
            seed: the seed of every draw (>= 0).
            start_iter: the iteration the stream starts at (a resumed run's).
            rank, world_size: this process's shard of every global batch.
        """
        if num_identities < 1 or num_instances < 1:
            raise ValueError(
                "DATALOADER.NUM_IDENTITIES and DATALOADER.NUM_INSTANCES must be >= 1, "
                f"got {num_identities} and {num_instances}"
            )
        if num_identities % world_size:
            raise ValueError(
                f"DATALOADER.NUM_IDENTITIES ({num_identities}) must be divisible by the number of processes "
                f"({world_size}) so that every rank gets whole identities"
            )
        if iters_per_epoch < 1:
            raise ValueError(f"iters_per_epoch must be >= 1, got {iters_per_epoch}")
        if seed < 0:
            raise ValueError(f"SEED must be resolved to a value >= 0 before building a sampler, got {seed}")
        if start_iter < 0:
            raise ValueError(f"start_iter must be >= 0, got {start_iter}")
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} is outside 0..{world_size - 1}")
        self.num_identities = int(num_identities)
        self.num_instances = int(num_instances)
        self.iters_per_epoch = int(iters_per_epoch)
        self.seed = int(seed)
        self.start_iter = int(start_iter)
        self.rank = int(rank)
        self.world_size = int(world_size)
        self.batch_size = self.num_identities * self.num_instances
        self.pids = self._usable_identities(items)
        if len(self.pids) < self.num_identities:
            raise ValueError(
                f"{type(self).__name__} needs at least DATALOADER.NUM_IDENTITIES={self.num_identities} usable "
                f"identities, the training set has {len(self.pids)}"
            )

    @classmethod
    def from_config(cls, cfg, items: Sequence[ReidItem], iters_per_epoch: int, start_iter: int = 0):
        """P and K from the config, and this process's rank among all of them."""
        keys = {"num_identities": "DATALOADER.NUM_IDENTITIES", "num_instances": "DATALOADER.NUM_INSTANCES",
                "seed": "SEED"}
        return config_arguments(
            cfg,
            keys,
            items=items,
            iters_per_epoch=iters_per_epoch,
            start_iter=start_iter,
            rank=comm.get_rank(),
            world_size=comm.get_world_size(),
        )

    @classmethod
    def epoch_lengths(cls, cfg, items: Sequence[ReidItem], num_epochs: int) -> Optional[List[int]]:
        """The length of each of the first `num_epochs` epochs when the sampler defines its own
        epochs (DATALOADER.ITERS_PER_EPOCH 0), else None: `partreid.data.iters_per_epoch`'s rule
        on the dataset applies."""
        return None

    @abstractmethod
    def _usable_identities(self, items: Sequence[ReidItem]) -> List[int]:
        """Index the items and return the sorted pids that batches may draw."""

    @abstractmethod
    def global_keys_at(self, iteration: int) -> List[SampleKey]:
        """Item indices and augmentation seeds of the whole (all ranks) batch at `iteration`."""

    @staticmethod
    def _group(items: Sequence[ReidItem], key) -> Dict:
        groups = defaultdict(list)
        for index, item in enumerate(items):
            groups[key(item)].append(index)
        return groups

    def __iter__(self) -> Iterator[List[SampleKey]]:
        shard = self.batch_size // self.world_size
        iteration = self.start_iter
        while True:
            keys = self.global_keys_at(iteration)
            yield keys[self.rank * shard : (self.rank + 1) * shard]
            iteration += 1


class IdentityBatchSampler(BatchStreamSampler):
    """Epochs of `iters_per_epoch` independent batches: subclasses compose one global batch (a
    list of P*K item indices, identity by identity) from a generator."""

    @abstractmethod
    def _compose(self, pids: np.ndarray, rng: np.random.Generator) -> List[int]:
        """The item indices of a global batch for the P chosen identities `pids`."""

    @staticmethod
    def _draw(indices: List[int], count: int, rng: np.random.Generator) -> List[int]:
        """`count` of `indices`, without replacement when there are enough."""
        return [indices[i] for i in rng.choice(len(indices), size=count, replace=len(indices) < count)]

    def global_batch(self, epoch: int, iteration: int) -> List[int]:
        """Item indices of the whole (all ranks) batch at `iteration` of `epoch`."""
        rng = np.random.default_rng([self.seed, epoch, iteration, _COMPOSITION_STREAM])
        chosen = rng.choice(len(self.pids), size=self.num_identities, replace=False)
        return self._compose(np.asarray(self.pids)[chosen], rng)

    def global_keys(self, epoch: int, iteration: int) -> List[SampleKey]:
        indices = self.global_batch(epoch, iteration)
        seeds = np.random.SeedSequence([self.seed, epoch, iteration, _AUGMENTATION_STREAM]).generate_state(len(indices))
        return [SampleKey(int(i), int(s)) for i, s in zip(indices, seeds)]

    def global_keys_at(self, iteration: int) -> List[SampleKey]:
        return self.global_keys(*divmod(iteration, self.iters_per_epoch))

    def epoch_batches(self, epoch: int) -> List[List[int]]:
        return [self.global_batch(epoch, i) for i in range(self.iters_per_epoch)]
