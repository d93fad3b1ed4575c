"""The two PartMix losses. Both read the mixer's outputs and return {} while they are absent
(the warm-up epochs, or a batch the mixer skipped)."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from partreid.config.configurable import ArgumentError, config_arguments, configurable
from partreid.modeling.losses.build import LOSS_REGISTRY

from .mixer import CONT_FEATURE_CHOICES


@LOSS_REGISTRY.register()
class PartMixContrastiveLoss(nn.Module):
    """L_cont: for anchor i with mined positives U_i and negatives Q_i,
    -log( sum_U exp(s(d_i,u)/tau) / (sum_U exp(s(d_i,u)/tau) + sum_Q exp(s(d_i,q)/tau)) ),
    s the cosine similarity of BN-necked (`cont_feature`, PARTMIX.CONT_FEATURE, "bn") or raw ("pre_bn")
    descriptors, averaged over the anchors that have at least
    one mined positive (an anchor with none has no term; with no negative its term is 0).
    Masked-out slots (fewer candidates than requested) are left out of both sums."""

    CONFIG_NODE = "CONT"  # its settings: MODEL.LOSSES.CONT (and PARTMIX.TEMPERATURE, PARTMIX.CONT_FEATURE)
    REQUIRED_OUTPUTS = ("partmix_positives",)  # written by the PartMix mixer (MODEL.MIXER.NAME PartMix)
    # It acts only on mixed samples: a term on every batch the mixer acts on, none before.
    ACTIVE_WITH_MIXER = True

    @configurable
    def __init__(self, *, weight: float = 0.5, temperature: float = 0.1, cont_feature: str = "bn"):
        """
        Args:
            weight: lambda_cont, the term's weight.
            temperature: tau, the temperature of the cosine similarities (> 0).
            cont_feature: "bn" (BN-necked descriptors) or "pre_bn" (raw d).
        """
        super().__init__()
        if temperature <= 0:
            raise ArgumentError("{temperature} must be > 0, got {value}", value=temperature)
        if cont_feature not in CONT_FEATURE_CHOICES:
            raise ArgumentError("{cont_feature} must be one of {choices}, got {value!r}",
                                choices=CONT_FEATURE_CHOICES, value=cont_feature)
        self.weight = weight
        self.temperature = temperature
        self.suffix = "_bn" if cont_feature == "bn" else ""

    @classmethod
    def from_config(cls, cfg):
        keys = {
            "weight": "MODEL.LOSSES.CONT.WEIGHT",
            "temperature": "PARTMIX.TEMPERATURE",
            "cont_feature": "PARTMIX.CONT_FEATURE",
        }
        return config_arguments(cfg, keys)

    def forward(self, outputs: dict, batch: dict) -> dict:
        if outputs.get("partmix_positives") is None:
            return {}
        anchors = outputs["bn_descriptors" if self.suffix else "descriptors"].float()[:, None, :]
        pos = F.cosine_similarity(anchors, outputs["partmix_positives" + self.suffix].float(), dim=-1)
        neg = F.cosine_similarity(anchors, outputs["partmix_negatives" + self.suffix].float(), dim=-1)
        pos, neg = pos / self.temperature, neg / self.temperature
        has_pos = outputs["partmix_positive_mask"].any(dim=1, keepdim=True)
        pos = pos.masked_fill(~outputs["partmix_positive_mask"], float("-inf"))
        neg = neg.masked_fill(~outputs["partmix_negative_mask"], float("-inf"))
        # an anchor without positives gets finite dummy scores (its term is dropped below): an
        # all -inf row would make logsumexp's gradient NaN even behind where()
        pos = torch.where(has_pos, pos, torch.zeros_like(pos))
        neg = torch.where(has_pos, neg, torch.zeros_like(neg))
        per_anchor = torch.logsumexp(torch.cat([pos, neg], dim=1), dim=1) - torch.logsumexp(pos, dim=1)
        has_pos = has_pos.squeeze(1)
        per_anchor = torch.where(has_pos, per_anchor, torch.zeros_like(per_anchor))
        loss = per_anchor.sum() / has_pos.sum().clamp_min(1)
        return {"loss_cont": self.weight * loss}


@LOSS_REGISTRY.register()
class PartMixAuxIDLoss(nn.Module):
    """L_aid: cross-entropy of the identity classifier C on the BN-necked mined positives, with
    the anchor's identity (a positive keeps it); averaged over the valid positives."""

    CONFIG_NODE = "AID"  # its settings: MODEL.LOSSES.AID
    REQUIRED_OUTPUTS = ("partmix_positive_logits",)  # written by the PartMix mixer (MODEL.MIXER.NAME PartMix)
    # It acts only on mixed samples: a term on every batch the mixer acts on, none before.
    ACTIVE_WITH_MIXER = True

    @configurable
    def __init__(self, *, weight: float = 0.5):
        """
        Args:
            weight: lambda_aid, the term's weight.
        """
        super().__init__()
        self.weight = weight

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": "MODEL.LOSSES.AID.WEIGHT"})

    def forward(self, outputs: dict, batch: dict) -> dict:
        if outputs.get("partmix_positive_logits") is None:
            return {}
        logits, valid = outputs["partmix_positive_logits"], outputs["partmix_positive_mask"]
        targets = outputs["targets"][:, None].expand(valid.shape)
        ce = F.cross_entropy(logits.flatten(0, 1).float(), targets.reshape(-1), reduction="none")
        ce = torch.where(valid.reshape(-1), ce, torch.zeros_like(ce))
        loss = ce.sum() / valid.sum().clamp_min(1)
        return {"loss_aid": self.weight * loss}
