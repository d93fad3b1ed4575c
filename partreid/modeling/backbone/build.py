"""Owns the BACKBONE registry."""
from fvcore.common.registry import Registry

from ...utils.registry import get_registered

BACKBONE_REGISTRY = Registry("BACKBONE")
BACKBONE_REGISTRY.__doc__ = "Feature extractors: image batch (B,3,H,W) -> feature map (B,C,h,w)."


def build_backbone(cfg):
    return get_registered(BACKBONE_REGISTRY, cfg.MODEL.BACKBONE.NAME, "MODEL.BACKBONE.NAME")(cfg)
