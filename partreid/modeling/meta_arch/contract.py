"""The two dicts every extension reads: the training `batch` (data loader + trainer) and the
`outputs` of the meta-architecture's training forward (what losses and mixers see).

These TypedDicts are the contract, written once: docs/extending/contract.md explains each key,
and tests/modeling/test_contract.py checks that the loader and PartBaseline produce exactly
these keys with these shapes. Shapes: N images, M part slots, C channels of the backbone,
D = (M + 1) * C, K training identities, h x w the feature map.
"""
from typing import List, Optional, TypedDict

import torch

from ..mixers.base import MixedTargets

__all__ = ["TrainingBatch", "PartOutputs", "TrainingOutputs", "BATCH_KEYS", "OUTPUT_KEYS"]


class _LoaderBatch(TypedDict):
    images: torch.Tensor  # (N, 3, H, W) uint8, RGB (infrared images are 3 equal channels), on the CPU
    targets: torch.Tensor  # (N,) int64 identity labels in [0, K)
    camids: torch.Tensor  # (N,) int64 camera ids
    modalities: torch.Tensor  # (N,) int64: 0 visible, 1 infrared (partreid.data.datasets.base)
    indices: torch.Tensor  # (N,) int64 positions of the images in the dataset's training list


class TrainingBatch(_LoaderBatch):
    """What `model(batch)` receives in training: the loader's batch plus the trainer's keys."""

    epoch: int  # 0-based epoch of this iteration (schedules the mixer)
    iteration: int  # 0-based iteration (the mixers reseed their random stream from it)


class PartOutputs(TypedDict):
    """What a part head returns (partreid.modeling.part_heads)."""

    part_maps: Optional[torch.Tensor]  # (N, M, h, w) maps >= 0; None for heads without maps
    part_descriptors: torch.Tensor  # (N, M, C) pooled part descriptors p_1..p_M
    global_descriptor: torch.Tensor  # (N, C) global descriptor g


class TrainingOutputs(PartOutputs, total=False):
    """The `outputs` dict losses read as `loss(outputs, batch)`. Mixers add their own keys,
    prefixed with their name (a mixer named mymix: mymix_positives, mymix_negatives, ...)."""

    images: torch.Tensor  # (N, 3, H, W) the normalised images the model described (after an image mixer)
    features: torch.Tensor  # (N, C, h, w) the backbone's feature map the part head read
    descriptors: torch.Tensor  # (N, D) d = [p_1..p_M, g] before the BN-neck (metric losses)
    bn_descriptors: torch.Tensor  # (N, D) d after the BN-neck (classifiers, retrieval)
    logits: torch.Tensor  # (N, K) shared identity classifier C
    part_logits: torch.Tensor  # (N, M, K) part m's contribution to `logits`
    logits_visible: torch.Tensor  # (N, K) modality-specific classifier C_v
    logits_infrared: torch.Tensor  # (N, K) modality-specific classifier C_r
    mean_logits_visible: torch.Tensor  # (N, K) EMA copy of C_v, no gradient
    mean_logits_infrared: torch.Tensor  # (N, K) EMA copy of C_r, no gradient
    targets: torch.Tensor  # (N,) batch["targets"] on the model's device
    modalities: torch.Tensor  # (N,) batch["modalities"] on the model's device
    mixed_targets: Optional[MixedTargets]  # soft labels of an image/feature-mixed batch, else None
    mixer_acted: bool  # whether the mixer acted on this batch (losses with ACTIVE_WITH_MIXER need it)


def _keys(cls) -> List[str]:
    return sorted(cls.__required_keys__ | cls.__optional_keys__)


BATCH_KEYS = _keys(TrainingBatch)
OUTPUT_KEYS = _keys(TrainingOutputs)
