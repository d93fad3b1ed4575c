"""Owns the MIXER registry."""
from fvcore.common.registry import Registry

from ...utils.registry import get_registered

MIXER_REGISTRY = Registry("MIXER")
MIXER_REGISTRY.__doc__ = "Training-time regularisers that mix samples (see partreid/modeling/mixers/base.py)."


def build_mixer(cfg):
    return get_registered(MIXER_REGISTRY, cfg.MODEL.MIXER.NAME, "MODEL.MIXER.NAME")(cfg)
