"""The built-in optimizers of SOLVER.OPTIMIZER (see OPTIMIZER_REGISTRY). The groups carry
each parameter's LR and weight decay; the builders add the optimizer's own keys."""
import torch

from .build import OPTIMIZER_REGISTRY


@OPTIMIZER_REGISTRY.register()
def Adam(cfg, param_groups) -> torch.optim.Optimizer:
    return torch.optim.Adam(param_groups, lr=cfg.SOLVER.BASE_LR)


@OPTIMIZER_REGISTRY.register()
def AdamW(cfg, param_groups) -> torch.optim.Optimizer:
    return torch.optim.AdamW(param_groups, lr=cfg.SOLVER.BASE_LR)


@OPTIMIZER_REGISTRY.register()
def SGD(cfg, param_groups) -> torch.optim.Optimizer:
    return torch.optim.SGD(param_groups, lr=cfg.SOLVER.BASE_LR, momentum=cfg.SOLVER.MOMENTUM,
                           nesterov=cfg.SOLVER.NESTEROV)
