"""Owns the LOSS registry; a model's losses are the list named in MODEL.LOSSES.NAMES."""
from fvcore.common.registry import Registry

from ...utils.registry import get_registered

LOSS_REGISTRY = Registry("LOSS")
LOSS_REGISTRY.__doc__ = """
Losses: `cls(cfg)` objects called as `loss(outputs, batch) -> {term_name: weighted scalar}`.
"""


def build_losses(cfg):
    return [get_registered(LOSS_REGISTRY, name, "MODEL.LOSSES.NAMES")(cfg) for name in cfg.MODEL.LOSSES.NAMES]
