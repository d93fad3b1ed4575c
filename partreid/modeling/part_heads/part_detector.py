"""MPANet's learned part detector: soft part maps from a 1x1 convolution."""
import torch
import torch.nn as nn

from .build import PART_HEAD_REGISTRY


@PART_HEAD_REGISTRY.register()
class PartDetector(nn.Module):
    """M sigmoid part maps A_m = sigmoid(W_m * F + b_m) from a 1x1 conv, part descriptors
    p_m = GAP(A_m * F) and the global descriptor g = GAP(F).

    The weighted pooling is normalised by the map area h*w, not by sum(A_m), exactly as
    MPANet does (avg_pool2d of A_m * F): a part that is barely present yields a small
    descriptor rather than an amplified one, which keeps weak detections from dominating."""

    def __init__(self, cfg, in_channels: int):
        super().__init__()
        num_parts = cfg.MODEL.PART_HEAD.NUM_PARTS
        if num_parts < 1:
            raise ValueError(f"MODEL.PART_HEAD.NUM_PARTS={num_parts!r}: PartDetector needs at least 1 part")
        self.num_parts = num_parts
        self.detector = nn.Conv2d(in_channels, num_parts, kernel_size=1, bias=True)
        nn.init.constant_(self.detector.bias, 0.0)

    def forward(self, features: torch.Tensor) -> dict:
        maps = torch.sigmoid(self.detector(features))
        area = features.shape[2] * features.shape[3]
        parts = torch.einsum("bmhw,bchw->bmc", maps, features) / area
        return {
            "part_maps": maps,
            "part_descriptors": parts,
            "global_descriptor": features.mean(dim=(2, 3)),
        }
