"""L_cc: center cluster loss (MPANet)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config.configurable import config_arguments, configurable
from ...utils.precision import full_precision
from .build import LOSS_REGISTRY
from .common import hard_targets, pairwise_distances, safe_norm


@LOSS_REGISTRY.register()
class CenterClusterLoss(nn.Module):
    """Supplementary eq. 3 on the pre-BN person descriptor d (outputs["descriptors"], where
    MPANet applies it): the mean distance of each descriptor to its in-batch identity centre,
    plus the mean over centre pairs of [rho - ||z_k - z_d||]_+ (rho = `margin`, MODEL.LOSSES.CC.MARGIN).

    MPANet's code averages the hinge per identity over the *samples* of other identities; with
    its balanced P x K batches that equals the mean over centre pairs used here, which does not
    depend on how the sampler orders or balances the batch. Mixed batches group each sample
    under its dominant identity."""

    CONFIG_NODE = "CC"  # its settings: MODEL.LOSSES.CC
    REQUIRED_OUTPUTS = ("descriptors",)  # it returns no term without them

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
        with full_precision(outputs["descriptors"]):
            return {"loss_cc": self.weight * self._pull_and_push(outputs["descriptors"].float(), hard_targets(outputs))}

    def _pull_and_push(self, x: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        """Every shape here depends on the batch size N only, not on how many identities the
        batch holds: no host sync, and one graph for torch.compile. Identity groups live in N
        slots, slot j standing for the identity whose first sample in the batch is j (slots
        no sample leads stay empty and are left out of both terms)."""
        n = x.shape[0]
        same = labels[:, None] == labels[None, :]
        group = same.to(torch.uint8).argmax(dim=1)  # the first sample of each sample's identity
        members = F.one_hot(group, num_classes=n).to(x)  # (N samples, N slots)
        counts = members.sum(0)
        centres = (members.t() @ x) / counts.clamp_min(1.0)[:, None]
        # index_select: a deterministic backward (indexing with repeats accumulates with atomic adds on the CPU)
        pull = safe_norm(x - centres.index_select(0, group)).mean()
        present = counts > 0
        pairs = torch.triu(present[:, None] & present[None, :], diagonal=1)
        hinge = (self.margin - pairwise_distances(centres)).clamp(min=0)
        push = torch.where(pairs, hinge, torch.zeros_like(hinge)).sum() / pairs.sum().clamp_min(1)
        return pull + push
