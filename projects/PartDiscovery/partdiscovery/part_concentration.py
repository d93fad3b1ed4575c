"""L_conc: each part map should be compact, one blob rather than scattered cells."""
import torch

from partreid.modeling.losses import LOSS_REGISTRY
from partreid.modeling.losses.common import WeightedLoss


@LOSS_REGISTRY.register()
class PartConcentrationLoss(WeightedLoss):
    """Mean over images and part maps of the spatial variance of the map, read as a
    distribution over positions: sum_p a_p ((y_p - cy)^2 + (x_p - cx)^2) / sum_p a_p, with y and
    x in [0, 1] (SCOPS' concentration loss, Hung et al. 2019). A body part is one connected
    region, so a map spread over the image, or split over distant cells, is penalised; the term
    does not depend on the map's overall strength, so it gives no reason to fade out.

    Why: the identity losses see only pooled descriptors, which a map spread over the whole
    person (or the background) serves as well as a map on one part. Not in MPANet."""

    CONFIG_NODE = "CONC"  # its settings: MODEL.LOSSES.CONC
    REQUIRED_OUTPUTS = ("part_maps",)  # it returns no term without them

    def forward(self, outputs: dict, batch: dict) -> dict:
        maps = outputs.get("part_maps")
        if maps is None:
            return {}
        maps = maps.float()
        h, w = maps.shape[2:]
        ys = torch.linspace(0.0, 1.0, h, device=maps.device).view(1, 1, h, 1)
        xs = torch.linspace(0.0, 1.0, w, device=maps.device).view(1, 1, 1, w)
        weights = maps / maps.sum(dim=(2, 3), keepdim=True).clamp_min(1e-6)
        cy = (weights * ys).sum(dim=(2, 3), keepdim=True)
        cx = (weights * xs).sum(dim=(2, 3), keepdim=True)
        variance = (weights * ((ys - cy) ** 2 + (xs - cx) ** 2)).sum(dim=(2, 3))
        return {"loss_conc": self.weight * variance.mean()}
