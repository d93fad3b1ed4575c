"""L_sep: MPANet's part-separation (diversity) regulariser on the part maps."""
import torch.nn as nn
import torch.nn.functional as F

from ...config.configurable import config_arguments, configurable
from .build import LOSS_REGISTRY


@LOSS_REGISTRY.register()
class PartSeparationLoss(nn.Module):
    """Mean over images and part pairs m < n of the inner product <A_m, A_n> of two part maps
    (summed over the h*w positions, not normalised, as in MPANet's code): overlapping maps are
    penalised so that the M detectors find different body parts. Returns {} without part maps
    or with fewer than two parts. With the fixed Stripes head the term is a constant.

    With `normalize` (MODEL.LOSSES.SEP.NORMALIZE) the maps are scaled to unit L2 norm first, so the term is the
    mean cosine similarity of two maps: it asks the maps to lie apart without rewarding a map for
    fading out, which the un-normalised product does (it falls with every map's strength)."""

    CONFIG_NODE = "SEP"  # its settings: MODEL.LOSSES.SEP
    REQUIRED_OUTPUTS = ("part_maps",)  # it returns no term without them

    @configurable
    def __init__(self, *, weight: float = 0.5, normalize: bool = False):
        """
        Args:
            weight: the term's weight.
            normalize: the cosine similarity of the maps instead of their inner product (see above).
        """
        super().__init__()
        self.weight = weight
        self.normalize = normalize

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": "MODEL.LOSSES.SEP.WEIGHT", "normalize": "MODEL.LOSSES.SEP.NORMALIZE"})

    def forward(self, outputs: dict, batch: dict) -> dict:
        maps = outputs.get("part_maps")
        if maps is None or maps.shape[1] < 2:
            return {}
        b, m = maps.shape[:2]
        flat = maps.float().reshape(b, m, -1)
        if self.normalize:
            flat = F.normalize(flat, dim=2, eps=1e-6)
        gram = flat @ flat.transpose(1, 2)
        overlap = gram.triu(diagonal=1).sum() / (b * m * (m - 1) / 2)
        return {"loss_sep": self.weight * overlap}
