"""L_ML: modality learning loss (KL to the other modality's mean classifier)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...data.datasets.base import VISIBLE
from ...config.configurable import config_arguments, configurable
from .build import LOSS_REGISTRY


@LOSS_REGISTRY.register()
class ModalityLearningLoss(nn.Module):
    """Supplementary eq. 1: for a visible sample, KL(softmax C_v(d) || softmax C~_r(d)); for an
    infrared sample, KL(softmax C_r(d) || softmax C~_v(d)), where C~ are the EMA mean
    classifiers (no gradient). Pulling a descriptor's own-modality prediction towards what the
    other modality's (slowly moving) classifier predicts makes d modality invariant.

    Direction and reduction follow MPANet's code (nn.KLDivLoss(log q_mean, p_own), 'batchmean'):
    the own-modality distribution is the first argument and carries the gradient; the sum over
    samples of eq. 1 is divided by the batch size N (MPANet's loss weight assumes this)."""

    CONFIG_NODE = "ML"  # its settings: MODEL.LOSSES.ML
    REQUIRED_OUTPUTS = ("logits_visible", "logits_infrared", "mean_logits_visible", "mean_logits_infrared")  # it returns no term without them

    @configurable
    def __init__(self, *, weight: float = 2.5):
        """
        Args:
            weight: the term's weight.
        """
        super().__init__()
        self.weight = weight

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": "MODEL.LOSSES.ML.WEIGHT"})

    def forward(self, outputs: dict, batch: dict) -> dict:
        keys = ("logits_visible", "logits_infrared", "mean_logits_visible", "mean_logits_infrared")
        if any(outputs.get(key) is None for key in keys):
            return {}
        visible = (outputs["modalities"] == VISIBLE)[:, None]
        own = torch.where(visible, outputs["logits_visible"], outputs["logits_infrared"]).float()
        other_mean = torch.where(visible, outputs["mean_logits_infrared"], outputs["mean_logits_visible"]).float()
        log_p = F.log_softmax(own, dim=1)
        log_q = F.log_softmax(other_mean.detach(), dim=1)
        kl = (log_p.exp() * (log_p - log_q)).sum(1)
        return {"loss_ml": self.weight * kl.mean()}
