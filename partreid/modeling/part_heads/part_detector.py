"""MPANet's learned part detector: soft part maps from a 1x1 convolution."""
import torch
import torch.nn as nn

from .build import PART_HEAD_REGISTRY


@PART_HEAD_REGISTRY.register()
class PartDetector(nn.Module):
    """M sigmoid part maps A_m = sigmoid(W_m * F + b_m) from a 1x1 conv, part descriptors
    p_m = pool(A_m * F) and the global descriptor g = GAP(F).

    MODEL.PART_HEAD.POOLING chooses the normaliser of the weighted pooling:
    - "area" (MPANet): sum(A_m * F) / (h*w). A barely present part yields a small descriptor
      rather than an amplified one. But the descriptor's scale then follows the map's mass, so
      any loss on the raw descriptor (centre-cluster) can shrink by shrinking the map, while the
      BN-neck hides that scale from the classifiers: maps can die with nothing to stop them.
    - "mass": sum(A_m * F) / sum(A_m), a weighted mean of the features under the map. The
      descriptor no longer depends on the map's overall strength, only on where it lies.

    MODEL.PART_HEAD.ACTIVATION chooses how the maps are made from the detector's logits:
    "sigmoid" (MPANet: each map on its own, free to overlap or fade) or "softmax" (M part maps and
    one background map compete for every position, so the maps partition the image and a map can
    only shrink by ceding positions to another map or to the background)."""

    POOLINGS = ("area", "mass")
    ACTIVATIONS = ("sigmoid", "softmax")

    def __init__(self, cfg, in_channels: int):
        super().__init__()
        num_parts = cfg.MODEL.PART_HEAD.NUM_PARTS
        if num_parts < 1:
            raise ValueError(f"MODEL.PART_HEAD.NUM_PARTS={num_parts!r}: PartDetector needs at least 1 part")
        if cfg.MODEL.PART_HEAD.POOLING not in self.POOLINGS:
            raise ValueError(f"MODEL.PART_HEAD.POOLING={cfg.MODEL.PART_HEAD.POOLING!r}: expected one of {self.POOLINGS}")
        if cfg.MODEL.PART_HEAD.ACTIVATION not in self.ACTIVATIONS:
            raise ValueError(f"MODEL.PART_HEAD.ACTIVATION={cfg.MODEL.PART_HEAD.ACTIVATION!r}: expected one of "
                             f"{self.ACTIVATIONS}")
        self.num_parts = num_parts
        self.pooling = cfg.MODEL.PART_HEAD.POOLING
        self.activation = cfg.MODEL.PART_HEAD.ACTIVATION
        background = 1 if self.activation == "softmax" else 0
        self.detector = nn.Conv2d(in_channels, num_parts + background, kernel_size=1, bias=True)
        nn.init.constant_(self.detector.bias, 0.0)

    def forward(self, features: torch.Tensor) -> dict:
        logits = self.detector(features)
        if self.activation == "sigmoid":
            maps = torch.sigmoid(logits)
        else:
            maps = torch.softmax(logits.float(), dim=1)[:, : self.num_parts].to(logits.dtype)
        weighted = torch.einsum("bmhw,bchw->bmc", maps, features)
        if self.pooling == "area":
            parts = weighted / (features.shape[2] * features.shape[3])
        else:
            parts = weighted / maps.sum(dim=(2, 3)).clamp_min(1e-6)[..., None]
        return {
            "part_maps": maps,
            "part_descriptors": parts,
            "global_descriptor": features.mean(dim=(2, 3)),
        }
