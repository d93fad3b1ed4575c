"""L_sid: identity cross-entropy of the modality-specific classifiers C_v and C_r."""
import torch.nn as nn

from ...data.datasets.base import INFRARED, VISIBLE
from ...config.configurable import config_arguments, configurable
from .build import LOSS_REGISTRY
from .common import masked_mean, mixed_cross_entropy


@LOSS_REGISTRY.register()
class ModalitySpecificIDLoss(nn.Module):
    """Supplementary eq. 2: mean CE of C_v over the visible samples plus mean CE of C_r over the
    infrared samples. These classifiers learn modality-specific knowledge that the modality
    learning loss then transfers. Mixed batches use the lam-weighted CE (a sample counts in its
    anchor's modality). `count_twice` (MODEL.LOSSES.SID.COUNT_TWICE) doubles the term, as MPANet's code does by
    adding it twice; the default follows the formula."""

    CONFIG_NODE = "SID"  # its settings: MODEL.LOSSES.SID
    REQUIRED_OUTPUTS = ("logits_visible", "logits_infrared")  # it returns no term without them

    @configurable
    def __init__(self, *, weight: float = 0.5, count_twice: bool = False):
        """
        Args:
            weight: the term's weight.
            count_twice: double it, as MPANet's code does (see above).
        """
        super().__init__()
        self.weight = weight * (2.0 if count_twice else 1.0)

    @classmethod
    def from_config(cls, cfg):
        keys = {"weight": "MODEL.LOSSES.SID.WEIGHT", "count_twice": "MODEL.LOSSES.SID.COUNT_TWICE"}
        return config_arguments(cfg, keys)

    def forward(self, outputs: dict, batch: dict) -> dict:
        if outputs.get("logits_visible") is None or outputs.get("logits_infrared") is None:
            return {}
        modalities = outputs["modalities"]
        loss_visible = masked_mean(mixed_cross_entropy(outputs["logits_visible"], outputs), modalities == VISIBLE)
        loss_infrared = masked_mean(mixed_cross_entropy(outputs["logits_infrared"], outputs), modalities == INFRARED)
        return {"loss_sid": self.weight * (loss_visible + loss_infrared)}
