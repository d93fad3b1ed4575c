"""A registered part head: each part is a softmax attention over positions (maps sum to 1)."""
import torch
import torch.nn as nn

from partreid.config import config_arguments, configurable, get_cfg
from partreid.modeling.meta_arch.build import build_model
from partreid.modeling.part_heads.build import PART_HEAD_REGISTRY, build_part_head


@PART_HEAD_REGISTRY.register()
class SoftmaxAttentionParts(nn.Module):
    """A 1x1 conv scores M maps; a spatial softmax turns each into weights, so p_m is a convex
    combination of positions. The maps are rescaled to [0,1] (max = 1) for the losses and plots
    that expect part maps in that range."""

    @configurable
    def __init__(self, *, in_channels: int, num_parts: int):
        super().__init__()
        self.num_parts = num_parts  # the meta-architecture reads M here when it is not given M
        self.score = nn.Conv2d(in_channels, num_parts, kernel_size=1)

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        """How the registry's `cls(cfg, in_channels)` maps to __init__'s arguments."""
        return config_arguments(cfg, {"num_parts": "MODEL.PART_HEAD.NUM_PARTS"}, in_channels=in_channels)

    def forward(self, features: torch.Tensor) -> dict:
        b, c, h, w = features.shape
        weights = self.score(features).flatten(2).softmax(-1)  # (B, M, h*w)
        parts = torch.einsum("bmn,bcn->bmc", weights, features.flatten(2))
        maps = weights / weights.amax(-1, keepdim=True)
        return {
            "part_maps": maps.view(b, self.num_parts, h, w),
            "part_descriptors": parts,
            "global_descriptor": features.mean(dim=(2, 3)),
        }


def demo():
    cfg = get_cfg()
    cfg.MODEL.PART_HEAD.NAME = "SoftmaxAttentionParts"
    cfg.MODEL.PART_HEAD.NUM_PARTS = 3
    cfg.MODEL.BACKBONE.DEPTH = 18
    cfg.MODEL.NUM_CLASSES = 4
    cfg.MODEL.DEVICE = "cpu"
    head = build_part_head(cfg, in_channels=8)
    out = head(torch.randn(2, 8, 6, 4))
    standalone = SoftmaxAttentionParts(in_channels=8, num_parts=3)  # the same head without a config
    assert standalone.score.weight.shape == head.score.weight.shape
    model = build_model(cfg).eval()
    features = model.extract(torch.randint(0, 256, (2, 3, 64, 32), dtype=torch.uint8))
    return out, features
