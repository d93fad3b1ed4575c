"""Owns the META_ARCH registry and builds the whole model on its device."""
import torch.nn as nn
from fvcore.common.registry import Registry

from ...utils.env import resolve_device
from ...utils.registry import get_registered

META_ARCH_REGISTRY = Registry("META_ARCH")
META_ARCH_REGISTRY.__doc__ = """
Meta-architectures: `cls(cfg)` modules. In training mode `model(batch)` returns a dict of
weighted loss terms; in eval mode it returns the retrieval features (B, D).
"""


def build_model(cfg):
    """The model of MODEL.META_ARCHITECTURE on its device; with DETERMINISTIC on CUDA, refused
    when it holds a module without a deterministic CUDA backward."""
    model = get_registered(META_ARCH_REGISTRY, cfg.MODEL.META_ARCHITECTURE, "MODEL.META_ARCHITECTURE")(cfg)
    device = resolve_device(cfg)
    if cfg.DETERMINISTIC:
        check_deterministic_backward(model, device.type)
    return model.to(device)


# Modules whose CUDA backward torch has no deterministic kernel for (torch.use_deterministic_algorithms
# lists them): in deterministic mode the first backward through one would raise.
_NO_DETERMINISTIC_CUDA_BACKWARD = (
    nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool2d, nn.AvgPool3d, nn.FractionalMaxPool2d,
    nn.FractionalMaxPool3d, nn.ReflectionPad1d, nn.ReflectionPad2d, nn.ReflectionPad3d, nn.Upsample,
    nn.EmbeddingBag, nn.CTCLoss,
)


def check_deterministic_backward(model: nn.Module, device_type: str) -> None:
    """On CUDA, raise before training when `model` holds a module whose backward has no
    deterministic CUDA kernel, naming the key that chose it (reflection padding:
    MODEL.BACKBONE.PADDING_MODE) or the module. Ops called inside a forward are not seen
    here; torch's deterministic mode (DETERMINISTIC) raises on them at the first step."""
    if device_type != "cuda":
        return
    for name, module in model.named_modules():
        if isinstance(module, nn.modules.conv._ConvNd) and module.padding_mode == "reflect":
            raise ValueError(
                f"DETERMINISTIC True on CUDA: MODEL.BACKBONE.PADDING_MODE='reflect' pads {name} with reflection "
                "padding, whose CUDA backward has no deterministic kernel; use 'zeros', 'replicate' or 'circular', "
                "or set DETERMINISTIC False"
            )
        if isinstance(module, _NO_DETERMINISTIC_CUDA_BACKWARD):
            raise ValueError(
                f"DETERMINISTIC True on CUDA: module {name} ({type(module).__name__}) has no deterministic CUDA "
                "backward; replace it (e.g. a mean over a reshape for pooling) or set DETERMINISTIC False"
            )
