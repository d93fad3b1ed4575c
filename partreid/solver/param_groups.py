"""Per-parameter LR and weight decay, merged into as few optimizer groups as possible."""
from typing import Dict, List, Tuple

import torch

# Every normalisation layer with learnable affine parameters: _NormBase covers BatchNorm*,
# SyncBatchNorm and InstanceNorm* (torch has no public base class for them); RMSNorm is torch >= 2.4.
NORM_TYPES = (torch.nn.modules.batchnorm._NormBase, torch.nn.GroupNorm, torch.nn.LayerNorm) + (
    (torch.nn.RMSNorm,) if hasattr(torch.nn, "RMSNorm") else ())

# Weight-decay keys whose value -1 means "same as SOLVER.WEIGHT_DECAY".
SAME_AS_WEIGHT_DECAY = -1.0


def param_groups(model: torch.nn.Module, *, base_lr: float, weight_decay: float, weight_decay_norm: float,
                 weight_decay_bias: float, backbone_lr_factor: float = 1.0, head_lr_factor: float = 1.0,
                 bias_lr_factor: float = 1.0, backbone_prefix: str = "backbone.") -> List[dict]:
    """Optimizer groups `{"params", "lr", "weight_decay"}` for the trainable parameters of `model`.

    Each parameter gets
      lr = base_lr x (backbone_lr_factor under `backbone_prefix`, else head_lr_factor)
                   x (bias_lr_factor for a parameter named "bias", normalisation layers' included),
      weight_decay = weight_decay_norm for the weight and bias of a normalisation layer,
                     weight_decay_bias for any other "bias", weight_decay otherwise.
    Parameters with equal (lr, weight_decay) share one group, in order of first appearance, so
    equal factors give today's two groups (backbone, rest) with their parameters in order.
    """
    groups: Dict[Tuple[float, float], dict] = {}
    seen = set()
    for module_name, module in model.named_modules():
        for name, param in module.named_parameters(recurse=False):
            if not param.requires_grad or param in seen:
                continue
            seen.add(param)
            full_name = f"{module_name}.{name}" if module_name else name
            lr = base_lr * (backbone_lr_factor if full_name.startswith(backbone_prefix) else head_lr_factor)
            if name == "bias":
                lr *= bias_lr_factor
            if isinstance(module, NORM_TYPES):
                decay = weight_decay_norm
            elif name == "bias":
                decay = weight_decay_bias
            else:
                decay = weight_decay
            group = groups.setdefault((lr, decay), {"params": [], "lr": lr, "weight_decay": decay})
            group["params"].append(param)
    return list(groups.values())


def param_groups_from_config(cfg, model: torch.nn.Module) -> List[dict]:
    """param_groups() with the SOLVER keys (BASE_LR, WEIGHT_DECAY[_NORM|_BIAS], *_LR_FACTOR)."""
    s = cfg.SOLVER
    for key in ("BACKBONE_LR_FACTOR", "HEAD_LR_FACTOR", "BIAS_LR_FACTOR", "WEIGHT_DECAY"):
        if s[key] < 0:
            raise ValueError(f"SOLVER.{key} must be >= 0, got {s[key]}")

    def decay(key):
        value = s[key]
        if value == SAME_AS_WEIGHT_DECAY:
            return s.WEIGHT_DECAY
        if value < 0:
            raise ValueError(f"SOLVER.{key} must be >= 0, or -1 for the same as SOLVER.WEIGHT_DECAY; got {value}")
        return value

    return param_groups(model, base_lr=s.BASE_LR, weight_decay=s.WEIGHT_DECAY,
                        weight_decay_norm=decay("WEIGHT_DECAY_NORM"), weight_decay_bias=decay("WEIGHT_DECAY_BIAS"),
                        backbone_lr_factor=s.BACKBONE_LR_FACTOR, head_lr_factor=s.HEAD_LR_FACTOR,
                        bias_lr_factor=s.BIAS_LR_FACTOR)
