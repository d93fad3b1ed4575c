"""Manifold MixUp (Verma et al. 2019): MixUp on a backbone stage's output."""
from typing import Optional, Sequence

import torch

from ...config.configurable import ArgumentError, config_arguments, configurable
from .base import Mixer, beta_alpha, interpolate_with_partners
from .build import MIXER_REGISTRY


@MIXER_REGISTRY.register()
class ManifoldMixUp(Mixer):
    """MixUp applied to E_g(x), the output of backbone stage g (supplementary eq. 6); g is drawn
    uniformly from `stages` (MODEL.MIXER.MANIFOLD_STAGES) for every batch (0 = stem, 1..4 =
    layer1..4)."""

    @configurable
    def __init__(self, *, stages: Sequence[int] = (1, 2, 3), alpha: float = 1.0, seed: Optional[int] = None):
        """
        Args:
            stages: the backbone stages among which the mixed one is drawn (0 = stem .. 4).
            alpha: the parameter of the Beta(alpha, alpha) the mixing ratio follows.
            seed: see Mixer.
        """
        super().__init__(seed=seed)
        stages = list(stages)
        if not stages or any(stage not in (0, 1, 2, 3, 4) for stage in stages):
            raise ArgumentError("{stages}={value!r}: expected a non-empty list of stages among 0..4", value=stages)
        self.stages = stages
        self.alpha = beta_alpha(alpha)

    @classmethod
    def from_config(cls, cfg):
        arguments = super().from_config(cfg)
        keys = {"stages": "MODEL.MIXER.MANIFOLD_STAGES", "alpha": "MODEL.MIXER.ALPHA"}
        arguments.update(config_arguments(cfg, keys))
        return arguments

    def hidden_stage(self) -> int:
        return self.stages[torch.randint(len(self.stages), (), generator=self.generator).item()]

    def mix_hidden(self, features: torch.Tensor, batch: dict):
        return interpolate_with_partners(features, batch, self.alpha, self.generator)
