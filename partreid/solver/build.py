"""Owns the OPTIMIZER and LR_SCHEDULER registries; builds the optimizer over per-parameter
groups and the per-iteration LR schedule (configs speak in epochs, see schedule.py)."""
import logging

import torch
from fvcore.common.registry import Registry

from ..utils.registry import get_registered
from .lr_scheduler import LRMultiplier
from .param_groups import param_groups_from_config
from .schedule import EpochSchedule

logger = logging.getLogger(__name__)

OPTIMIZER_REGISTRY = Registry("OPTIMIZER")
OPTIMIZER_REGISTRY.__doc__ = """
Optimizers named by SOLVER.OPTIMIZER: `builder(cfg, param_groups) -> torch.optim.Optimizer`,
where every group already carries its "lr" and "weight_decay" (see param_groups.py).
"""

LR_SCHEDULER_REGISTRY = Registry("LR_SCHEDULER")
LR_SCHEDULER_REGISTRY.__doc__ = """
LR schedules named by SOLVER.LR_SCHEDULER_NAME: `builder(cfg, schedule: EpochSchedule) ->
fvcore ParamScheduler`, the multiplier of every group's initial LR at
`where = iteration / schedule.max_iter`. Convert epoch-valued keys with `schedule.iters()`.
"""


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """The SOLVER.OPTIMIZER optimizer over the model's trainable parameters, grouped by their
    LR and weight decay (SOLVER.*_LR_FACTOR, SOLVER.WEIGHT_DECAY*)."""
    builder = get_registered(OPTIMIZER_REGISTRY, cfg.SOLVER.OPTIMIZER, "SOLVER.OPTIMIZER")
    groups = param_groups_from_config(cfg, model)
    optimizer = builder(cfg, groups)
    logger.info(f"Optimizer: {cfg.SOLVER.OPTIMIZER} with {len(groups)} parameter groups: " + "; ".join(
        f"lr {g['lr']:g}, weight decay {g['weight_decay']:g} ({len(g['params'])} tensors)" for g in groups))
    return optimizer


def build_lr_scheduler(cfg, optimizer: torch.optim.Optimizer, schedule: EpochSchedule) -> LRMultiplier:
    """The SOLVER.LR_SCHEDULER_NAME schedule over `schedule.max_iter` iterations, stepped once
    per iteration."""
    builder = get_registered(LR_SCHEDULER_REGISTRY, cfg.SOLVER.LR_SCHEDULER_NAME, "SOLVER.LR_SCHEDULER_NAME")
    return LRMultiplier(optimizer, builder(cfg, schedule), schedule.max_iter)
