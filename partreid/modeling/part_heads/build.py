"""Owns the PART_HEAD registry."""
from fvcore.common.registry import Registry

from ...utils.registry import get_registered

PART_HEAD_REGISTRY = Registry("PART_HEAD")
PART_HEAD_REGISTRY.__doc__ = "Part heads: feature map -> part maps, part descriptors and a global descriptor."


def build_part_head(cfg, in_channels: int):
    return get_registered(PART_HEAD_REGISTRY, cfg.MODEL.PART_HEAD.NAME, "MODEL.PART_HEAD.NAME")(cfg, in_channels)
