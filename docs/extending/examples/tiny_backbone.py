"""A registered backbone: a two-layer CNN that the part-based baseline uses unchanged."""
import torch
import torch.nn as nn

from partreid.config import configurable, get_cfg
from partreid.modeling.backbone.build import BACKBONE_REGISTRY, build_backbone
from partreid.modeling.meta_arch.build import build_model


@BACKBONE_REGISTRY.register()
class TinyConvNet(nn.Module):
    """Images (B,3,H,W) -> features (B, out_channels, H/4, W/4). The meta-architecture reads
    `out_channels`; `hidden_hook` is the optional stage callback Manifold MixUp relies on."""

    @configurable
    def __init__(self, *, out_channels: int = 32):
        super().__init__()
        self.out_channels = out_channels
        self.stage1 = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.BatchNorm2d(16), nn.ReLU())
        self.stage2 = nn.Sequential(
            nn.Conv2d(16, out_channels, 3, stride=2, padding=1), nn.BatchNorm2d(out_channels), nn.ReLU()
        )

    @classmethod
    def from_config(cls, cfg):
        """No config key sets its width: from a config it keeps every default. A backbone with
        keys of its own reads them here (see ResNet.from_config)."""
        return {}

    def forward(self, x, hidden_hook=None):
        for index, stage in enumerate((self.stage1, self.stage2), start=1):
            x = stage(x)
            if hidden_hook is not None:
                x = hidden_hook(index, x)
        return x


def demo():
    cfg = get_cfg()
    cfg.MODEL.BACKBONE.NAME = "TinyConvNet"
    cfg.MODEL.PART_HEAD.NUM_PARTS = 2
    cfg.MODEL.NUM_CLASSES = 5
    cfg.MODEL.DEVICE = "cpu"
    backbone = build_backbone(cfg)
    model = build_model(cfg).eval()
    assert TinyConvNet(out_channels=32).out_channels == backbone.out_channels  # built without a config
    images = torch.randint(0, 256, (2, 3, 32, 16), dtype=torch.uint8)
    return backbone(torch.zeros(2, 3, 32, 16)).shape, model({"images": images}).shape
