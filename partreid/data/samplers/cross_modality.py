"""P identities x (K/2 visible + K/2 infrared) per batch, as MPANet and the part-mixing methods train."""
import logging
from typing import List, Sequence

import numpy as np

from ...config.configurable import configurable
from ..build import SAMPLER_REGISTRY
from ..datasets.base import INFRARED, VISIBLE, ReidItem
from .base import IdentityBatchSampler

logger = logging.getLogger(__name__)


@SAMPLER_REGISTRY.register()
class CrossModalitySampler(IdentityBatchSampler):
    """Every identity of a batch brings K/2 visible and K/2 infrared images, so that each
    batch holds cross-modality positives for every sample. Identities lacking one modality
    are skipped (with a warning); images are drawn with replacement when too few."""

    @configurable
    def __init__(self, items: Sequence[ReidItem], num_identities: int, num_instances: int, *args, **kwargs):
        """IdentityBatchSampler's arguments; `num_instances` must be even."""
        if num_instances % 2:
            raise ValueError(
                f"DATALOADER.NUM_INSTANCES must be even for CrossModalitySampler (K/2 per modality), got {num_instances}"
            )
        super().__init__(items, num_identities, num_instances, *args, **kwargs)

    def _usable_identities(self, items: Sequence[ReidItem]) -> List[int]:
        self.by_pid_modality = self._group(items, lambda item: (item.pid, item.modality))
        all_pids = sorted({pid for pid, _ in self.by_pid_modality})
        usable = [p for p in all_pids if (p, VISIBLE) in self.by_pid_modality and (p, INFRARED) in self.by_pid_modality]
        if not usable:
            raise ValueError(
                "CrossModalitySampler: no training identity has both visible and infrared images "
                f"({len(all_pids)} identities, {len(items)} images)"
            )
        skipped = sorted(set(all_pids) - set(usable))
        if skipped:
            # training pids are relabelled 0..N-1: an image path is what names the identity on disk
            described = []
            for pid in skipped[:10]:
                modality = VISIBLE if (pid, VISIBLE) in self.by_pid_modality else INFRARED
                example = items[self.by_pid_modality[(pid, modality)][0]].path
                described.append(f"{example} ({'visible' if modality == VISIBLE else 'infrared'} only)")
            logger.warning(
                "CrossModalitySampler skips %d training identities that lack a modality; the first ones, each named "
                "by one of its images: %s", len(skipped), "; ".join(described)
            )
        return usable

    def _compose(self, pids: np.ndarray, rng: np.random.Generator) -> List[int]:
        half = self.num_instances // 2
        batch = []
        for pid in pids.tolist():
            batch += self._draw(self.by_pid_modality[(pid, VISIBLE)], half, rng)
            batch += self._draw(self.by_pid_modality[(pid, INFRARED)], half, rng)
        return batch
