"""MixUp (Zhang et al. 2018) on input images."""

import torch

from .base import BetaMixer, interpolate_with_partners
from .build import MIXER_REGISTRY


@MIXER_REGISTRY.register()
class MixUp(BetaMixer):
    """x~ = lam x1 + (1-lam) x2, y~ = lam y1 + (1-lam) y2, lam ~ Beta(alpha, alpha) once per
    batch, x2 a random permutation of the batch regardless of modality (supplementary eq. 5).
    A mixed sample keeps the modality of x1 for the modality-specific losses."""

    def mix_images(self, images: torch.Tensor, batch: dict):
        return interpolate_with_partners(images, batch, self.alpha, self.generator)
