"""Owns the META_ARCH registry and builds the whole model on its device."""
import torch
from fvcore.common.registry import Registry

from ...utils.registry import get_registered

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """
Meta-architectures: `cls(cfg)` modules. In training mode `model(batch)` returns a dict of
weighted loss terms; in eval mode it returns the retrieval features (B, D).
"""


def resolve_device(cfg) -> torch.device:
    name = cfg.MODEL.DEVICE
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise RuntimeError(f"MODEL.DEVICE={name!r} but CUDA is not available; use 'auto' or 'cpu'.")
    return torch.device(name)


def build_model(cfg):
    model = get_registered(META_ARCH_REGISTRY, cfg.MODEL.META_ARCHITECTURE, "MODEL.META_ARCHITECTURE")(cfg)
    return model.to(resolve_device(cfg))
