"""MPANet's learned part detector: soft part maps from a 1x1 convolution."""
import torch
import torch.nn as nn

from ...config.configurable import ArgumentError, config_arguments, configurable
from .build import PART_HEAD_REGISTRY


@PART_HEAD_REGISTRY.register()
class PartDetector(nn.Module):
    """M sigmoid part maps A_m = sigmoid(W_m * F + b_m) from a 1x1 conv, part descriptors
    p_m = sum(A_m * F) / (h*w) and the global descriptor g = GAP(F) (MPANet). Each map is free to
    overlap the others or fade out; a barely present part yields a small descriptor rather than
    an amplified one."""

    @configurable
    def __init__(self, *, in_channels: int, num_parts: int = 6):
        """
        Args:
            in_channels: channels C of the backbone's feature map.
            num_parts: M, the number of part maps.
        """
        super().__init__()
        if num_parts < 1:
            raise ArgumentError("{num_parts}={value!r}: PartDetector needs at least 1 part", value=num_parts)
        self.num_parts = num_parts
        self.detector = nn.Conv2d(in_channels, num_parts, kernel_size=1, bias=True)
        nn.init.constant_(self.detector.bias, 0.0)

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        return config_arguments(cfg, {"num_parts": "MODEL.PART_HEAD.NUM_PARTS"}, in_channels=in_channels)

    def forward(self, features: torch.Tensor) -> dict:
        maps = torch.sigmoid(self.detector(features))
        return {
            "part_maps": maps,
            "part_descriptors": self.pool(maps, features),
            "global_descriptor": features.mean(dim=(2, 3)),
        }

    def pool(self, maps: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(N, M, h, w) maps and (N, C, h, w) features -> (N, M, C) part descriptors. Public so
        that the meta-architecture can pool with the maps detached (MODEL.LOSSES.DETACH_MAPS)."""
        return torch.einsum("bmhw,bchw->bmc", maps, features) / (features.shape[2] * features.shape[3])
