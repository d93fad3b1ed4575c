"""Plain P x K identity sampler (fast-reid / Market-1501 style), blind to modality."""
from typing import List, Sequence

import numpy as np

from ..build import SAMPLER_REGISTRY
from ..datasets.base import ReidItem
from .base import IdentityBatchSampler


@SAMPLER_REGISTRY.register()
class IdentitySampler(IdentityBatchSampler):
    """P identities with K images each, whatever their modality; images are drawn with
    replacement when an identity has fewer than K."""

    def _usable_identities(self, items: Sequence[ReidItem]) -> List[int]:
        self.by_pid = self._group(items, lambda item: item.pid)
        if not self.by_pid:
            raise ValueError("IdentitySampler: the training set is empty")
        return sorted(self.by_pid)

    def _compose(self, pids: np.ndarray, rng: np.random.Generator) -> List[int]:
        batch = []
        for pid in pids.tolist():
            batch += self._draw(self.by_pid[pid], self.num_instances, rng)
        return batch
