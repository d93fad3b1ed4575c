"""L_id: identity cross-entropy of the shared classifier C."""
import torch.nn as nn

from ...data.datasets.base import INFRARED, VISIBLE
from ...config.configurable import ArgumentError, config_arguments, configurable
from .build import LOSS_REGISTRY
from .common import masked_mean, mixed_cross_entropy


@LOSS_REGISTRY.register()
class IdentityLoss(nn.Module):
    """Cross-entropy of outputs["logits"] (C on the BN-necked descriptor), optionally with
    label smoothing; a mixed batch uses lam*CE(y_a) + (1-lam)*CE(y_b).

    `reduction` (MODEL.LOSSES.ID.REDUCTION): "mean" averages over the batch as MPANet's code does;
    "per_modality" follows supplementary eq. 4, the sum of the visible and the infrared means
    (twice "mean" on a modality-balanced batch). A mixed sample counts in its anchor's modality."""

    CONFIG_NODE = "ID"  # its settings: MODEL.LOSSES.ID
    REQUIRED_OUTPUTS = ("logits",)  # it returns no term without them

    @configurable
    def __init__(self, *, weight: float = 1.0, label_smoothing: float = 0.0, reduction: str = "mean"):
        """
        Args:
            weight: the term's weight.
            label_smoothing: epsilon of the cross-entropy's label smoothing (0 = plain CE).
            reduction: "mean" or "per_modality" (see above).
        """
        super().__init__()
        if reduction not in ("mean", "per_modality"):
            raise ArgumentError("{reduction}={value!r}: expected 'mean' or 'per_modality'", value=reduction)
        if not 0.0 <= label_smoothing < 1.0:
            raise ArgumentError("{label_smoothing}={value!r}: expected a value in [0, 1)", value=label_smoothing)
        self.weight = weight
        self.label_smoothing = label_smoothing
        self.reduction = reduction

    @classmethod
    def from_config(cls, cfg):
        keys = {
            "weight": "MODEL.LOSSES.ID.WEIGHT",
            "label_smoothing": "MODEL.LOSSES.ID.LABEL_SMOOTHING",
            "reduction": "MODEL.LOSSES.ID.REDUCTION",
        }
        return config_arguments(cfg, keys)

    def forward(self, outputs: dict, batch: dict) -> dict:
        if outputs.get("logits") is None:
            return {}
        per_sample = mixed_cross_entropy(outputs["logits"], outputs, self.label_smoothing)
        if self.reduction == "mean":
            loss = per_sample.mean()
        else:
            modalities = outputs["modalities"]
            loss = masked_mean(per_sample, modalities == VISIBLE) + masked_mean(per_sample, modalities == INFRARED)
        return {"loss_id": self.weight * loss}
