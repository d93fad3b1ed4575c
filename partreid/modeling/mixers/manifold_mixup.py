"""Manifold MixUp (Verma et al. 2019): MixUp on a backbone stage's output."""
import torch

from .base import Mixer, beta_alpha, interpolate_with_partners
from .build import MIXER_REGISTRY


@MIXER_REGISTRY.register()
class ManifoldMixUp(Mixer):
    """MixUp applied to E_g(x), the output of backbone stage g (supplementary eq. 6); g is drawn
    uniformly from MODEL.MIXER.MANIFOLD_STAGES for every batch (0 = stem, 1..4 = layer1..4)."""

    def __init__(self, cfg):
        super().__init__(cfg)
        stages = list(cfg.MODEL.MIXER.MANIFOLD_STAGES)
        if not stages or any(stage not in (0, 1, 2, 3, 4) for stage in stages):
            raise ValueError(
                f"MODEL.MIXER.MANIFOLD_STAGES={stages!r}: expected a non-empty list of stages among 0..4"
            )
        self.stages = stages
        self.alpha = beta_alpha(cfg)

    def hidden_stage(self) -> int:
        return self.stages[torch.randint(len(self.stages), (), generator=self.generator).item()]

    def mix_hidden(self, features: torch.Tensor, batch: dict):
        return interpolate_with_partners(features, batch, self.alpha, self.generator)
