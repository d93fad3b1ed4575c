"""The part head that finds body parts on SynthVI: softmax maps with a background map, mass
pooling and a fixed row prior."""
import logging
import math
from typing import Sequence

import torch
import torch.nn as nn

from partreid.config.configurable import ArgumentError, config_arguments, configurable
from partreid.modeling.part_heads import PART_HEAD_REGISTRY

logger = logging.getLogger(__name__)


@PART_HEAD_REGISTRY.register()
class PartDiscoveryHead(nn.Module):
    """M part maps and one background map from a 1x1 convolution plus a fixed row prior, made to
    compete for every cell by a softmax; part descriptors are the maps' weighted means of the
    features, and the global descriptor g = GAP(F).

    - Softmax with a background map: the maps partition the image, so a map can only shrink by
      ceding cells to another map or to the background (MPANet's sigmoid maps fade out freely).
    - Mass pooling, sum(A_m * F) / sum(A_m): the descriptor depends on where the map lies, not on
      its overall strength, so no loss on the descriptor can lower itself by shrinking the map.
    - Row prior: map m's logits get -(y - c_m)^2 / (2 s_m^2) over the rows (y in (0, 1), the
      row's centre). Pedestrian images are upright, so the prior orders the maps head to feet and
      the features shape each map's extent and separate the person from the background. It is
      held fixed (buffers, no gradient): learned, the top map moves down off the head.
    """

    @configurable
    def __init__(self, *, in_channels: int, num_parts: int = 4, row_prior_centres: Sequence[float] = (),
                 row_prior_widths: Sequence[float] = ()):
        """
        Args:
            in_channels: channels C of the backbone's feature map.
            num_parts: M, the number of part maps (a background map is added).
            row_prior_centres: the bumps' centres c_m, top to bottom, as fractions of the height
                (empty: the centres of M equal bands).
            row_prior_widths: the bumps' widths s_m, as fractions of the height (empty: half a
                band each). A narrow bump holds its map to its rows more firmly. Loading a
                checkpoint (MODEL.WEIGHTS) replaces both with the checkpoint's.
        """
        super().__init__()
        if num_parts < 1:
            raise ArgumentError("{num_parts}={value!r}: PartDiscoveryHead needs at least 1 part", value=num_parts)
        self.num_parts = num_parts
        self.detector = nn.Conv2d(in_channels, num_parts + 1, kernel_size=1, bias=True)
        nn.init.constant_(self.detector.bias, 0.0)
        centres, log_widths = self._row_prior_start(num_parts, row_prior_centres, row_prior_widths)
        self.register_buffer("row_centres", centres)
        self.register_buffer("row_log_widths", log_widths)

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        keys = {
            "num_parts": "MODEL.PART_HEAD.NUM_PARTS",
            "row_prior_centres": "MODEL.PART_HEAD.ROW_PRIOR_CENTRES",
            "row_prior_widths": "MODEL.PART_HEAD.ROW_PRIOR_WIDTHS",
        }
        return config_arguments(cfg, keys, in_channels=in_channels)

    def forward(self, features: torch.Tensor) -> dict:
        logits = self.detector(features)
        logits = logits + self._row_prior_logits(features.shape[2], logits)
        maps = torch.softmax(logits.float(), dim=1)[:, : self.num_parts].to(logits.dtype)
        return {
            "part_maps": maps,
            "part_descriptors": self.pool(maps, features),
            "global_descriptor": features.mean(dim=(2, 3)),
        }

    def pool(self, maps: torch.Tensor, features: torch.Tensor) -> torch.Tensor:
        """(N, M, h, w) maps and (N, C, h, w) features -> (N, M, C) weighted means. Public so that
        the meta-architecture can pool with the maps detached (MODEL.LOSSES.DETACH_MAPS)."""
        weighted = torch.einsum("bmhw,bchw->bmc", maps, features)
        return weighted / maps.sum(dim=(2, 3)).clamp_min(1e-6)[..., None]

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        """Loading a checkpoint replaces the configured row prior with the checkpoint's: say so
        when that changes it, since the config no longer describes the model."""
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
        """The bumps' centres and log-widths, (M,) float32 each, checked."""
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
        """(1, M + 1, height, 1) prior logits; 0 for the background map."""
        rows = (torch.arange(height, device=logits.device, dtype=torch.float32) + 0.5) / height  # cell centres
        widths = self.row_log_widths.exp()
        prior = -((rows[None, :] - self.row_centres[:, None]) ** 2) / (2 * widths[:, None] ** 2)
        prior = torch.cat([prior, prior.new_zeros(1, height)])
        return prior.to(logits.dtype)[None, :, :, None]
