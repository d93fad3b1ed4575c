"""MPANet's learned part detector: soft part maps from a 1x1 convolution."""
import math

import torch
import torch.nn as nn

from ...config.configurable import ArgumentError, config_arguments, configurable
from .build import PART_HEAD_REGISTRY


@PART_HEAD_REGISTRY.register()
class PartDetector(nn.Module):
    """M sigmoid part maps A_m = sigmoid(W_m * F + b_m) from a 1x1 conv, part descriptors
    p_m = pool(A_m * F) and the global descriptor g = GAP(F).

    `pooling` (MODEL.PART_HEAD.POOLING) chooses the normaliser of the weighted pooling:
    - "area" (MPANet): sum(A_m * F) / (h*w). A barely present part yields a small descriptor
      rather than an amplified one. But the descriptor's scale then follows the map's mass, so
      any loss on the raw descriptor (centre-cluster) can shrink by shrinking the map, while the
      BN-neck hides that scale from the classifiers: maps can die with nothing to stop them.
    - "mass": sum(A_m * F) / sum(A_m), a weighted mean of the features under the map. The
      descriptor no longer depends on the map's overall strength, only on where it lies.

    `activation` (MODEL.PART_HEAD.ACTIVATION) chooses how the maps are made from the detector's logits:
    "sigmoid" (MPANet: each map on its own, free to overlap or fade) or "softmax" (M part maps and
    one background map compete for every position, so the maps partition the image and a map can
    only shrink by ceding positions to another map or to the background)."""

    POOLINGS = ("area", "mass")
    ACTIVATIONS = ("sigmoid", "softmax")

    @configurable
    def __init__(self, *, in_channels: int, num_parts: int = 6, pooling: str = "area", activation: str = "sigmoid",
                 row_prior: bool = False):
        """
        Args:
            in_channels: channels C of the backbone's feature map.
            num_parts: M, the number of part maps.
            pooling: "area" or "mass" (see above).
            activation: "sigmoid" or "softmax" (see above).
            row_prior: add to map m's logits a learned bump over the image rows, -(y - c_m)^2 / (2 s_m^2)
                with y in (0, 1) the row's centre, c_m starting at the centre of the m-th of M horizontal bands and s_m at
                half a band. Pedestrian images are upright, so body parts are ordered from head to feet:
                the maps start as PCB's stripes, and the features move their extent and separate the
                person from the background. The centres and widths are learned.
        """
        super().__init__()
        if num_parts < 1:
            raise ArgumentError("{num_parts}={value!r}: PartDetector needs at least 1 part", value=num_parts)
        if pooling not in self.POOLINGS:
            raise ArgumentError("{pooling}={value!r}: expected one of {choices}", value=pooling, choices=self.POOLINGS)
        if activation not in self.ACTIVATIONS:
            raise ArgumentError(
                "{activation}={value!r}: expected one of {choices}", value=activation, choices=self.ACTIVATIONS
            )
        self.num_parts = num_parts
        self.pooling = pooling
        self.activation = activation
        background = 1 if self.activation == "softmax" else 0
        self.detector = nn.Conv2d(in_channels, num_parts + background, kernel_size=1, bias=True)
        nn.init.constant_(self.detector.bias, 0.0)
        self.row_prior = row_prior
        if row_prior:
            self.row_centres = nn.Parameter((torch.arange(num_parts, dtype=torch.float32) + 0.5) / num_parts)
            self.row_log_widths = nn.Parameter(torch.full((num_parts,), math.log(0.5 / num_parts)))

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        keys = {
            "num_parts": "MODEL.PART_HEAD.NUM_PARTS",
            "pooling": "MODEL.PART_HEAD.POOLING",
            "activation": "MODEL.PART_HEAD.ACTIVATION",
            "row_prior": "MODEL.PART_HEAD.ROW_PRIOR",
        }
        return config_arguments(cfg, keys, in_channels=in_channels)

    def forward(self, features: torch.Tensor) -> dict:
        logits = self.detector(features)
        if self.row_prior:
            logits = logits + self._row_prior_logits(features.shape[2], logits)
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

    def _row_prior_logits(self, height: int, logits: torch.Tensor) -> torch.Tensor:
        """(1, M (+ 1), height, 1) prior logits; 0 for the background map."""
        rows = (torch.arange(height, device=logits.device, dtype=torch.float32) + 0.5) / height  # cell centres
        widths = self.row_log_widths.exp()
        prior = -((rows[None, :] - self.row_centres[:, None]) ** 2) / (2 * widths[:, None] ** 2)
        if logits.shape[1] > self.num_parts:
            prior = torch.cat([prior, prior.new_zeros(1, height)])
        return prior.to(logits.dtype)[None, :, :, None]
