"""L_equiv: part maps should move with the image content, not stay at fixed image positions."""
import logging

import torch

from .build import LOSS_REGISTRY
from .common import WeightedLoss

logger = logging.getLogger(__name__)


@LOSS_REGISTRY.register()
class PartEquivarianceLoss(WeightedLoss):
    """For images described as given and shifted sideways by whole map cells (the model's
    `equivariance_views`, MODEL.EQUIVARIANCE.SHIFT): each map, over the columns both views show,
    is read as a distribution over those cells (divided by its mass there), and the term is the
    L1 distance between the two distributions (0 to 2), averaged over the maps and the images:
    SCOPS' equivariance constraint (Hung et al. 2019) for translations, made scale-free.

    Why: on SynthVI the part maps became fixed templates, the same blob at the same place in every
    image, read from the absolute position that zero padding leaks into the features
    (BENCHMARKS.md). A template does not move when the content does, so it pays for every shift;
    a map that follows the person pays nothing. Scale-free, because on the raw maps fading out
    pays nothing either (weighted 10, three of four maps faded within 200 iterations). Maps
    constant along the rows would pay nothing too: PartConcentrationLoss keeps each map compact.
    Not in MPANet."""

    WEIGHT_KEY = "MODEL.LOSSES.EQUIV.WEIGHT"
    warned = False  # becomes True on the instance once it has warned of missing views

    def forward(self, outputs: dict, batch: dict) -> dict:
        views = outputs.get("equivariance_views")
        if views is None:  # the contract's rule: a loss without its inputs gives no term
            if not self.warned:
                logger.warning("PartEquivarianceLoss (MODEL.LOSSES.NAMES) gives no term: the model describes no "
                               "shifted views (set MODEL.EQUIVARIANCE.SHIFT to a multiple of the feature map's stride)")
                self.warned = True
            return {}
        distances = [(_as_distribution(reference) - _as_distribution(shifted)).abs().sum(dim=(1, 2)).mean()
                     for reference, shifted in overlapping_columns(views)]
        return {"loss_equiv": self.weight * torch.stack(distances).mean()}


def _as_distribution(maps: torch.Tensor) -> torch.Tensor:
    """(M, h, w) maps, each divided by its mass."""
    maps = maps.float()
    return maps / maps.sum(dim=(1, 2), keepdim=True).clamp_min(1e-6)


def overlapping_columns(views):
    """Per view, its (reference, shifted) maps, (M, h, w - |cells|) each, restricted to the columns
    both describe: column j of the shifted copy shows column j - cells of the reference."""
    width = views.reference.shape[-1]
    pairs = []
    for reference, shifted, cells in zip(views.reference, views.shifted, views.cells.tolist()):
        if cells >= 0:
            pairs.append((reference[..., : width - cells], shifted[..., cells:]))
        else:
            pairs.append((reference[..., -cells:], shifted[..., : width + cells]))
    return pairs
