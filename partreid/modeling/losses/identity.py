"""L_id: identity cross-entropy of the shared classifier C."""
import torch.nn as nn

from ...data.datasets.base import INFRARED, VISIBLE
from .build import LOSS_REGISTRY
from .common import masked_mean, mixed_cross_entropy


@LOSS_REGISTRY.register()
class IdentityLoss(nn.Module):
    """Cross-entropy of outputs["logits"] (C on the BN-necked descriptor), optionally with
    label smoothing; a mixed batch uses lam*CE(y_a) + (1-lam)*CE(y_b).

    MODEL.LOSSES.ID.REDUCTION: "mean" averages over the batch as MPANet's code does;
    "per_modality" follows supplementary eq. 4, the sum of the visible and the infrared means
    (twice "mean" on a modality-balanced batch). A mixed sample counts in its anchor's modality."""

    def __init__(self, cfg):
        super().__init__()
        lcfg = cfg.MODEL.LOSSES.ID
        if lcfg.REDUCTION not in ("mean", "per_modality"):
            raise ValueError(
                f"MODEL.LOSSES.ID.REDUCTION={lcfg.REDUCTION!r}: expected 'mean' or 'per_modality'"
            )
        if not 0.0 <= lcfg.LABEL_SMOOTHING < 1.0:
            raise ValueError(f"MODEL.LOSSES.ID.LABEL_SMOOTHING={lcfg.LABEL_SMOOTHING!r}: expected a value in [0, 1)")
        self.weight = lcfg.WEIGHT
        self.label_smoothing = lcfg.LABEL_SMOOTHING
        self.reduction = lcfg.REDUCTION

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
