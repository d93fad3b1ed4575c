"""A registered mixer: MixUp that always pairs a sample with one of the other modality."""
from typing import Optional

import torch

from partreid.config import config_arguments, configurable, get_cfg
from partreid.data import INFRARED, VISIBLE
from partreid.modeling.mixers.base import Mixer, MixedTargets, beta_alpha, draw_beta
from partreid.modeling.mixers.build import MIXER_REGISTRY, build_mixer


@MIXER_REGISTRY.register()
class CrossModalityMixUp(Mixer):
    """x~_i = lam x_i + (1 - lam) x_j with j drawn among the other modality's samples, so every
    mixed image blends a visible and an infrared one. All draws come from `self.generator`
    (reseeded per step by the meta-architecture), which makes runs and resumes reproducible."""

    @configurable
    def __init__(self, *, alpha: float = 1.0, seed: Optional[int] = None):
        super().__init__(seed=seed)
        self.alpha = beta_alpha(alpha)

    @classmethod
    def from_config(cls, cfg):
        arguments = super().from_config(cfg)  # the seed, from SEED
        arguments.update(config_arguments(cfg, {"alpha": "MODEL.MIXER.ALPHA"}))
        return arguments

    def mix_images(self, images, batch):
        modalities = batch["modalities"].cpu()
        visible = torch.nonzero(modalities == VISIBLE).flatten()
        infrared = torch.nonzero(modalities == INFRARED).flatten()
        if len(visible) == 0 or len(infrared) == 0:
            return images, None  # nothing to pair across modalities
        partners = torch.empty_like(modalities)
        partners[visible] = infrared[torch.randint(len(infrared), (len(visible),), generator=self.generator)]
        partners[infrared] = visible[torch.randint(len(visible), (len(infrared),), generator=self.generator)]
        lam = draw_beta(self.alpha, self.generator)
        partners = partners.to(images.device)
        targets = batch["targets"].to(images.device)
        mixed = lam * images + (1.0 - lam) * images[partners]
        return mixed, MixedTargets(targets, targets[partners], torch.full((len(images),), lam, device=images.device))


def demo():
    cfg = get_cfg()
    cfg.MODEL.MIXER.NAME = "CrossModalityMixUp"
    mixer = build_mixer(cfg)
    mixer.reseed(iteration=0)
    batch = {"targets": torch.tensor([0, 0, 1, 1]), "modalities": torch.tensor([0, 1, 0, 1])}
    images = torch.arange(4.0).view(4, 1, 1, 1).expand(4, 3, 2, 2)
    mixed = mixer.mix_images(images, batch)
    standalone = CrossModalityMixUp(alpha=cfg.MODEL.MIXER.ALPHA, seed=cfg.SEED)  # the same mixer without a config
    standalone.reseed(iteration=0)
    assert torch.equal(standalone.mix_images(images, batch)[0], mixed[0])
    return mixed, batch
