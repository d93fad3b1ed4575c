"""MPANet's learned part detector: soft part maps from a 1x1 convolution."""
import logging
import math
from typing import Sequence

import torch
import torch.nn as nn

from ...config.configurable import ArgumentError, config_arguments, configurable
from .build import PART_HEAD_REGISTRY

logger = logging.getLogger(__name__)


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
                 row_prior: bool = False, row_prior_centres: Sequence[float] = (),
                 row_prior_widths: Sequence[float] = (), row_prior_learned: bool = True):
        """
        Args:
            in_channels: channels C of the backbone's feature map.
            num_parts: M, the number of part maps.
            pooling: "area" or "mass" (see above).
            activation: "sigmoid" or "softmax" (see above).
            row_prior: add to map m's logits a bump over the image rows, -(y - c_m)^2 / (2 s_m^2)
                with y in (0, 1) the row's centre. Pedestrian images are upright, so body parts are
                ordered from head to feet: the prior orders the maps (by default as Gaussian bumps
                at the centres of M equal bands, half a band wide), and the features shape each
                map's extent and separate the person from the background. The next three arguments
                shape the prior; without it they are ignored.
            row_prior_centres: the bumps' starting centres c_m, top to bottom, as fractions of the
                height (empty: the centres of M equal bands). Body parts are not equally tall (a head
                is about an eighth of a standing person, the feet a tenth): with equal bands the top
                map starts on head and shoulders alike, and the bottom one on legs and feet alike.
            row_prior_widths: the bumps' starting widths s_m, as fractions of the height (empty:
                half a band each). A narrow bump holds its map to its rows more firmly.
            row_prior_learned: learn c_m and s_m (True) or keep them fixed (False). Fixed, the maps'
                vertical layout is the prior's, and only their extent within it is learned. Either
                way they are saved under the same keys, so loading a checkpoint (MODEL.WEIGHTS)
                replaces the configured values with the checkpoint's.
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
        self.row_prior_learned = row_prior_learned
        if row_prior:
            centres, log_widths = self._row_prior_start(num_parts, row_prior_centres, row_prior_widths)
            if row_prior_learned:
                self.row_centres = nn.Parameter(centres)
                self.row_log_widths = nn.Parameter(log_widths)
            else:  # buffers: the same checkpoint keys, but no gradient and no optimizer state
                self.register_buffer("row_centres", centres)
                self.register_buffer("row_log_widths", log_widths)

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        keys = {
            "num_parts": "MODEL.PART_HEAD.NUM_PARTS",
            "pooling": "MODEL.PART_HEAD.POOLING",
            "activation": "MODEL.PART_HEAD.ACTIVATION",
            "row_prior": "MODEL.PART_HEAD.ROW_PRIOR",
            "row_prior_centres": "MODEL.PART_HEAD.ROW_PRIOR_CENTRES",
            "row_prior_widths": "MODEL.PART_HEAD.ROW_PRIOR_WIDTHS",
            "row_prior_learned": "MODEL.PART_HEAD.ROW_PRIOR_LEARNED",
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
        return {
            "part_maps": maps,
            "part_descriptors": self.pool(maps, features),
            "global_descriptor": features.mean(dim=(2, 3)),
        }

    def pool(self, maps: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(N, M, h, w) maps and (N, C, h, w) features -> (N, M, C) part descriptors. Public so
        that the meta-architecture can pool with the maps detached (MODEL.LOSSES.DETACH_MAPS)."""
        weighted = torch.einsum("bmhw,bchw->bmc", maps, features)
        if self.pooling == "area":
            return weighted / (features.shape[2] * features.shape[3])
        return weighted / maps.sum(dim=(2, 3)).clamp_min(1e-6)[..., None]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Loading a checkpoint replaces a fixed row prior with the checkpoint's (same keys): say so
        when that changes it, since the config no longer describes the model."""
        if self.row_prior and not self.row_prior_learned:
            loaded = [state_dict.get(prefix + name) for name in ("row_centres", "row_log_widths")]
            current = [self.row_centres, self.row_log_widths]
            if all(t is not None and t.shape == c.shape for t, c in zip(loaded, current)) and not all(
                    torch.equal(t.to(c), c) for t, c in zip(loaded, current)):
                logger.warning(
                    "The checkpoint's fixed row prior (centres %s, widths %s) replaces the configured one "
                    "(MODEL.PART_HEAD.ROW_PRIOR_CENTRES %s, MODEL.PART_HEAD.ROW_PRIOR_WIDTHS %s)",
                    *[[round(v, 4) for v in values] for values in (
                        loaded[0].tolist(), loaded[1].exp().tolist(), current[0].tolist(), current[1].exp().tolist())])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @staticmethod
    def _row_prior_start(num_parts: int, centres: Sequence[float], widths: Sequence[float]):
        """The bumps' starting centres and log-widths, (M,) float32 each, checked. The defaults are
        computed as before the keys existed, bit for bit, so earlier runs repeat exactly."""
        if not centres:
            centres = ((torch.arange(num_parts, dtype=torch.float32) + 0.5) / num_parts).tolist()
        if not widths:
            widths = [0.5 / num_parts] * num_parts
        wrong = [(name, values) for name, values in (("row_prior_centres", centres), ("row_prior_widths", widths))
                 if len(values) != num_parts]
        if wrong:
            listed = " and ".join(f"{{{name}}}={list(values)!r}" for name, values in wrong)
            raise ArgumentError(
                listed + ": expected one value per part ({num_parts}={count}), or [] for the default",
                count=num_parts,
            )
        if not all(0.0 <= c <= 1.0 for c in centres):
            raise ArgumentError("{row_prior_centres}={value!r}: centres are fractions of the height, in [0, 1]",
                                value=list(centres))
        if not all(w > 0.0 for w in widths):
            raise ArgumentError("{row_prior_widths}={value!r}: widths must be positive", value=list(widths))
        log_widths = [math.log(w) for w in widths]  # in double, then rounded once
        return torch.tensor(centres, dtype=torch.float32), torch.tensor(log_widths, dtype=torch.float32)

    def _row_prior_logits(self, height: int, logits: torch.Tensor) -> torch.Tensor:
        """(1, M (+ 1), height, 1) prior logits; 0 for the background map."""
        rows = (torch.arange(height, device=logits.device, dtype=torch.float32) + 0.5) / height  # cell centres
        widths = self.row_log_widths.exp()
        prior = -((rows[None, :] - self.row_centres[:, None]) ** 2) / (2 * widths[:, None] ** 2)
        if logits.shape[1] > self.num_parts:
            prior = torch.cat([prior, prior.new_zeros(1, height)])
        return prior.to(logits.dtype)[None, :, :, None]
