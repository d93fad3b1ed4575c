"""PCB-style fixed horizontal stripes: the part head without learned parameters."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from .build import PART_HEAD_REGISTRY


@PART_HEAD_REGISTRY.register()
class Stripes(nn.Module):
    """M horizontal stripes (PCB, Sun et al. 2018): p_m is the mean of the feature map over
    stripe m, g the mean over the whole map. Stripe bounds follow adaptive pooling
    (rows floor(m*h/M) .. ceil((m+1)*h/M)), so any h >= M works; the part maps are the
    stripes' 0/1 indicators, returned so that visualisation treats both heads alike."""

    def __init__(self, cfg, in_channels: int):
        super().__init__()
        num_parts = cfg.MODEL.PART_HEAD.NUM_PARTS
        if num_parts < 1:
            raise ValueError(f"MODEL.PART_HEAD.NUM_PARTS={num_parts!r}: Stripes needs at least 1 stripe")
        self.num_parts = num_parts

    def forward(self, features: torch.Tensor) -> dict:
        b, _, h, w = features.shape
        if h < self.num_parts:
            raise ValueError(
                f"Feature map height {h} is smaller than MODEL.PART_HEAD.NUM_PARTS={self.num_parts}: "
                "use a larger input or fewer stripes"
            )
        parts = F.adaptive_avg_pool2d(features, (self.num_parts, 1)).flatten(2).transpose(1, 2)
        maps = features.new_zeros(b, self.num_parts, h, w)
        for m in range(self.num_parts):
            start, end = (m * h) // self.num_parts, -((-(m + 1) * h) // self.num_parts)
            maps[:, m, start:end] = 1.0
        return {
            "part_maps": maps,
            "part_descriptors": parts,
            "global_descriptor": features.mean(dim=(2, 3)),
        }
