"""MixUp (Zhang et al. 2018) on input images."""
from typing import Optional

import torch

from ...config.configurable import config_arguments, configurable
from .base import Mixer, beta_alpha, interpolate_with_partners
from .build import MIXER_REGISTRY


@MIXER_REGISTRY.register()
class MixUp(Mixer):
    """x~ = lam x1 + (1-lam) x2, y~ = lam y1 + (1-lam) y2, lam ~ Beta(alpha, alpha) once per
    batch, x2 a random permutation of the batch regardless of modality (supplementary eq. 5).
    A mixed sample keeps the modality of x1 for the modality-specific losses."""

    @configurable
    def __init__(self, *, alpha: float = 1.0, seed: Optional[int] = None):
        """
        Args:
            alpha: the parameter of the Beta(alpha, alpha) the mixing ratio follows.
            seed: see Mixer.
        """
        super().__init__(seed=seed)
        self.alpha = beta_alpha(alpha)

    @classmethod
    def from_config(cls, cfg):
        arguments = super().from_config(cfg)
        arguments.update(config_arguments(cfg, {"alpha": "MODEL.MIXER.ALPHA"}))
        return arguments

    def mix_images(self, images: torch.Tensor, batch: dict):
        return interpolate_with_partners(images, batch, self.alpha, self.generator)
