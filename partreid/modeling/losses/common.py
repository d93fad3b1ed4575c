"""Helpers shared by the loss entries: the one-weight loss base, label handling under mixing, and
stable distances."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config.configurable import config_arguments, configurable


class WeightedLoss(nn.Module):
    """A loss whose one setting is its weight, read from MODEL.LOSSES.<CONFIG_NODE>.WEIGHT:
    subclasses name their node and write forward()."""

    CONFIG_NODE = ""

    @configurable
    def __init__(self, *, weight: float = 1.0):
        """
        Args:
            weight: the term's weight.
        """
        super().__init__()
        self.weight = weight

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": f"MODEL.LOSSES.{cls.CONFIG_NODE}.WEIGHT"})


def hard_targets(outputs: dict) -> torch.Tensor:
    """One label per sample for losses that cannot take soft labels (centres, triplets): the
    dominant identity of a mixed sample (see MixedTargets.dominant), else the batch's label."""
    mixed = outputs.get("mixed_targets")
    return mixed.dominant() if mixed is not None else outputs["targets"]


def mixed_cross_entropy(logits: torch.Tensor, outputs: dict, label_smoothing: float = 0.0) -> torch.Tensor:
    """Per-sample cross-entropy (N,). For a mixed batch it is lam*CE(y_a) + (1-lam)*CE(y_b),
    which is CE against the mixed label because CE is linear in the target distribution."""
    logits = logits.float()
    mixed = outputs.get("mixed_targets")
    if mixed is None:
        return F.cross_entropy(logits, outputs["targets"], reduction="none", label_smoothing=label_smoothing)
    loss_a = F.cross_entropy(logits, mixed.targets_a, reduction="none", label_smoothing=label_smoothing)
    loss_b = F.cross_entropy(logits, mixed.targets_b, reduction="none", label_smoothing=label_smoothing)
    lam = mixed.lam.to(loss_a)
    return lam * loss_a + (1.0 - lam) * loss_b


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values[mask]`; 0 (still attached to the graph) when the mask selects nothing, so
    that a batch without one modality gives no NaN and keeps every parameter in the graph.
    Fixed shapes, no branch on the mask's content: no host sync, one graph for torch.compile."""
    kept = torch.where(mask, values, torch.zeros_like(values))  # where(), not values * mask: a NaN left out stays out
    return kept.sum() / mask.sum().clamp_min(1)


def safe_norm(x: torch.Tensor, dim: int = -1) -> torch.Tensor:
    """Euclidean norm whose gradient stays finite at 0 (sqrt of a clamped squared norm)."""
    return x.pow(2).sum(dim).clamp(min=1e-12).sqrt()


def pairwise_distances(x: torch.Tensor) -> torch.Tensor:
    """(N,N) Euclidean distances with a finite gradient on the diagonal."""
    squared = x.pow(2).sum(1)
    d2 = squared[:, None] + squared[None, :] - 2.0 * x @ x.t()
    return d2.clamp(min=1e-12).sqrt()
