"""Batch-hard triplet loss (Hermans et al. 2017), for peer methods and ablations."""
import torch.nn as nn

from ...config.configurable import config_arguments, configurable
from .build import LOSS_REGISTRY
from .common import hard_targets, masked_mean, pairwise_distances


@LOSS_REGISTRY.register()
class TripletLoss(nn.Module):
    """For each anchor, the farthest same-identity and the closest other-identity descriptor
    (Euclidean, on the pre-BN outputs["descriptors"]): mean of [d_ap - d_an + margin]_+.
    Anchors without any negative in the batch are left out. Mixed batches use each sample's
    dominant identity."""

    CONFIG_NODE = "TRIPLET"  # its settings: MODEL.LOSSES.TRIPLET
    REQUIRED_OUTPUTS = ("descriptors",)  # it returns no term without them

    @configurable
    def __init__(self, *, weight: float = 1.0, margin: float = 0.3):
        """
        Args:
            weight: the term's weight.
            margin: the hinge's margin.
        """
        super().__init__()
        self.weight = weight
        self.margin = margin

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": "MODEL.LOSSES.TRIPLET.WEIGHT", "margin": "MODEL.LOSSES.TRIPLET.MARGIN"})

    def forward(self, outputs: dict, batch: dict) -> dict:
        if outputs.get("descriptors") is None:
            return {}
        x = outputs["descriptors"].float()
        labels = hard_targets(outputs)
        dist = pairwise_distances(x)
        same = labels[:, None] == labels[None, :]
        hardest_positive = dist.masked_fill(~same, float("-inf")).amax(1)
        hardest_negative = dist.masked_fill(same, float("inf")).amin(1)
        has_negative = (~same).any(1)
        hinge = (hardest_positive - hardest_negative + self.margin).clamp(min=0)  # 0 without a negative
        return {"loss_triplet": self.weight * masked_mean(hinge, has_negative)}  # no host sync
