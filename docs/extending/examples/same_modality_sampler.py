"""A registered sampler: P identities x K images, all of one modality per batch (alternating)."""
from typing import List, Sequence

import numpy as np

from partreid.config import get_cfg
from partreid.data import INFRARED, VISIBLE, ReidItem, build_sampler
from partreid.data.build import SAMPLER_REGISTRY
from partreid.data.samplers.base import IdentityBatchSampler


@SAMPLER_REGISTRY.register()
class SameModalitySampler(IdentityBatchSampler):
    """Even batches are visible, odd ones infrared (by the parity of the batch's first draw),
    for single-modality warm-ups. Batches stay a pure function of (SEED, epoch, iteration):
    only the `rng` passed in is used, so resume and DDP sharding come from the base class.
    It adds no argument, so the base class's __init__ and from_config serve as they are."""

    def _usable_identities(self, items: Sequence[ReidItem]) -> List[int]:
        self.by_pid_modality = self._group(items, lambda item: (item.pid, item.modality))
        pids = sorted({pid for pid, _ in self.by_pid_modality
                       if (pid, VISIBLE) in self.by_pid_modality and (pid, INFRARED) in self.by_pid_modality})
        if not pids:
            raise ValueError("SameModalitySampler: no training identity has both visible and infrared images")
        return pids

    def _compose(self, pids: np.ndarray, rng: np.random.Generator) -> List[int]:
        modality = int(rng.integers(2))
        batch = []
        for pid in pids.tolist():
            batch += self._draw(self.by_pid_modality[(pid, modality)], self.num_instances, rng)
        return batch


def demo():
    cfg = get_cfg()
    cfg.DATALOADER.SAMPLER = "SameModalitySampler"
    cfg.DATALOADER.NUM_IDENTITIES, cfg.DATALOADER.NUM_INSTANCES = 2, 3
    items = [ReidItem(f"{pid}_{m}_{n}.jpg", pid, 1 + m, m) for pid in range(3) for m in (0, 1) for n in range(2)]
    sampler = build_sampler(cfg, items, iters_per_epoch=4)
    stream = iter(sampler)
    batches = [next(stream) for _ in range(6)]
    # The base class's arguments build the same sampler without a config
    standalone = SameModalitySampler(items, num_identities=2, num_instances=3, iters_per_epoch=4, seed=cfg.SEED)
    assert next(iter(standalone)) == batches[0]
    return items, batches
