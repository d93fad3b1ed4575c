"""L_cc: center cluster loss (MPANet)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config.configurable import config_arguments, configurable
from .build import LOSS_REGISTRY
from .common import hard_targets, safe_norm


@LOSS_REGISTRY.register()
class CenterClusterLoss(nn.Module):
    """Supplementary eq. 3 on the pre-BN person descriptor d (outputs["descriptors"], where
    MPANet applies it): the mean distance of each descriptor to its in-batch identity centre,
    plus the mean over centre pairs of [rho - ||z_k - z_d||]_+ (rho = `margin`, MODEL.LOSSES.CC.MARGIN).

    MPANet's code averages the hinge per identity over the *samples* of other identities; with
    its balanced P x K batches that equals the mean over centre pairs used here, which does not
    depend on how the sampler orders or balances the batch. Mixed batches group each sample
    under its dominant identity."""

    @configurable
    def __init__(self, *, weight: float = 1.0, margin: float = 0.7):
        """
        Args:
            weight: the term's weight.
            margin: rho, the least distance between identity centres.
        """
        super().__init__()
        self.weight = weight
        self.margin = margin

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": "MODEL.LOSSES.CC.WEIGHT", "margin": "MODEL.LOSSES.CC.MARGIN"})

    def forward(self, outputs: dict, batch: dict) -> dict:
        if outputs.get("descriptors") is None:
            return {}
        x = outputs["descriptors"].float()
        _, inverse = torch.unique(hard_targets(outputs), return_inverse=True)
        members = F.one_hot(inverse).to(x)  # (N, P)
        centres = (members.t() @ x) / members.sum(0)[:, None]
        pull = safe_norm(x - centres.index_select(0, inverse)).mean()  # deterministic backward (indexing with repeats accumulates with atomic adds on the CPU)
        num_ids = centres.shape[0]
        if num_ids < 2:
            return {"loss_cc": self.weight * pull}
        rows, cols = torch.triu_indices(num_ids, num_ids, offset=1, device=x.device)
        push = (self.margin - safe_norm(centres[rows] - centres[cols])).clamp(min=0).mean()
        return {"loss_cc": self.weight * (pull + push)}
