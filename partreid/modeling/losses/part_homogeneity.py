"""L_homog: each part map should cover cells that look alike (a soft k-means of the image's colours)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .build import LOSS_REGISTRY
from .common import WeightedLoss


@LOSS_REGISTRY.register()
class PartHomogeneityLoss(WeightedLoss):
    """The share of an image's colour variance, over the cells of the part maps' grid, that the
    maps leave unexplained: sum_k sum_p a_k(p) |x(p) - mu_k|^2 / sum_p |x(p) - mean(x)|^2, with x
    the image average-pooled to the maps' h x w grid (detached), a_k the M part maps plus the
    background 1 - sum_k a_k, and mu_k the colour mean under map k. It is 0 when each map covers
    one colour and 1 when the maps are blind to colour. Unlike L_conc it does see a map's
    strength: a map that fades hands its cells to the background, whose colours it then mixes,
    so fading is penalised, not rewarded.

    Why: the identity losses are as happy with a horizontal band (head and shoulders) as with a
    head, and L_conc only asks for a compact one. On SynthVI the head (skin, hair), the garments
    and the shoes are regions of their own colour or infrared intensity, so asking each map to
    cover one appearance is what separates the head from the shoulders and the shoes from the
    trousers. It is an appearance cue (SCOPS' semantic consistency, with the image's colours
    in place of pretrained features), not part supervision. It is made for maps that share each
    cell with a background map (MODEL.PART_HEAD.ACTIVATION softmax); overlapping sigmoid maps are
    read as their shares of the cell. Not in MPANet."""

    WEIGHT_KEY = "MODEL.LOSSES.HOMOG.WEIGHT"

    def forward(self, outputs: dict, batch: dict) -> dict:
        maps = outputs.get("part_maps")
        if maps is None:
            return {}
        maps = maps.float()
        colours = F.adaptive_avg_pool2d(outputs["images"].detach().float(), maps.shape[2:])  # (N, 3, h, w)
        background = (1.0 - maps.sum(dim=1, keepdim=True)).clamp_min(0.0)
        weights = torch.cat([maps, background], dim=1)  # (N, M + 1, h, w)
        weights = weights / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)  # softmax maps: unchanged
        mass = weights.sum(dim=(2, 3)).clamp_min(1e-6)  # (N, M + 1)
        means = torch.einsum("nkhw,nchw->nkc", weights, colours) / mass[..., None]
        squared = (colours[:, None] - means[..., None, None]).pow(2).sum(dim=2)  # (N, M + 1, h, w)
        unexplained = (weights * squared).sum(dim=(1, 2, 3))
        total = (colours - colours.mean(dim=(2, 3), keepdim=True)).pow(2).sum(dim=(1, 2, 3)).clamp_min(1e-6)
        return {"loss_homog": self.weight * (unexplained / total).mean()}
