"""CutMix (Yun et al. 2019) on input images."""
import math

import torch

from .base import BetaMixer, MixedTargets, draw_beta
from .build import MIXER_REGISTRY


@MIXER_REGISTRY.register()
class CutMix(BetaMixer):
    """Paste a box of the partner image x2 into x1 (supplementary eq. 7-8): lam ~ Beta(alpha,
    alpha), box b_w = W sqrt(1-lam), b_h = H sqrt(1-lam) centred at a uniform point, clipped to
    the image and rounded to pixels. The label weight is recomputed from the box actually pasted,
    lam = 1 - area/(H W), so a box cut by the border does not over-credit x2. One box per batch."""

    def mix_images(self, images: torch.Tensor, batch: dict):
        n, _, height, width = images.shape
        lam = draw_beta(self.alpha, self.generator)
        cut = math.sqrt(1.0 - lam)
        centre_x = torch.rand((), generator=self.generator, dtype=torch.float64).item() * width
        centre_y = torch.rand((), generator=self.generator, dtype=torch.float64).item() * height
        x0, x1 = _clipped_span(centre_x, width * cut, width)
        y0, y1 = _clipped_span(centre_y, height * cut, height)

        perm = torch.randperm(n, generator=self.generator).to(images.device)
        mixed = images.clone()
        mixed[:, :, y0:y1, x0:x1] = images[perm][:, :, y0:y1, x0:x1]
        kept = 1.0 - (x1 - x0) * (y1 - y0) / (width * height)
        targets = batch["targets"].to(images.device)
        lam_per_sample = torch.full((n,), kept, dtype=torch.float32, device=images.device)
        return mixed, MixedTargets(targets, targets[perm], lam_per_sample)


def _clipped_span(centre: float, length: float, size: int):
    """Pixel bounds [start, end) of a span of `length` around `centre`, clipped to [0, size]."""
    start = int(round(min(max(centre - length / 2, 0.0), size)))
    end = int(round(min(max(centre + length / 2, 0.0), size)))
    return start, end
