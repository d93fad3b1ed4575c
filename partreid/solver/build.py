"""Optimizer and the per-iteration LR schedule (linear warm-up x multi-step decay)."""
import bisect
import logging

import torch

from .schedule import EpochSchedule

logger = logging.getLogger(__name__)

_OPTIMIZERS = {"Adam": torch.optim.Adam, "AdamW": torch.optim.AdamW, "SGD": torch.optim.SGD}


def build_optimizer(cfg, model: torch.nn.Module) -> torch.optim.Optimizer:
    """One group for the backbone (BASE_LR x BACKBONE_LR_FACTOR) and one for the rest."""
    name = cfg.SOLVER.OPTIMIZER
    if name not in _OPTIMIZERS:
        raise KeyError(f"SOLVER.OPTIMIZER={name!r} is not supported; choose one of {sorted(_OPTIMIZERS)}")
    backbone, rest = [], []
    for pname, p in model.named_parameters():
        if p.requires_grad:
            (backbone if pname.startswith("backbone.") else rest).append(p)
    base_lr = cfg.SOLVER.BASE_LR
    groups = [g for g in (
        {"params": backbone, "lr": base_lr * cfg.SOLVER.BACKBONE_LR_FACTOR},
        {"params": rest, "lr": base_lr},
    ) if g["params"]]
    kwargs = {"lr": base_lr, "weight_decay": cfg.SOLVER.WEIGHT_DECAY}
    if name == "SGD":
        kwargs["momentum"] = cfg.SOLVER.MOMENTUM
    return _OPTIMIZERS[name](groups, **kwargs)


class WarmupMultiStepFactor:
    """LR multiplier at an iteration: linear warm-up from `warmup_factor` to 1 over
    `warmup_iters`, times gamma ** (number of steps already passed)."""

    def __init__(self, step_iters, gamma: float, warmup_iters: int, warmup_factor: float):
        self.step_iters = sorted(step_iters)
        self.gamma = gamma
        self.warmup_iters = warmup_iters
        self.warmup_factor = warmup_factor

    def __call__(self, iteration: int) -> float:
        factor = self.gamma ** bisect.bisect_right(self.step_iters, iteration)
        if iteration < self.warmup_iters:
            alpha = iteration / self.warmup_iters
            factor *= self.warmup_factor * (1 - alpha) + alpha
        return factor


def build_lr_scheduler(cfg, optimizer, schedule: EpochSchedule):
    steps = [schedule.iters(e) for e in cfg.SOLVER.STEPS]
    ignored = [e for e, it in zip(cfg.SOLVER.STEPS, steps) if it >= schedule.max_iter]
    if ignored:
        logger.info(f"LR steps at epochs {ignored} fall at or after the end of training and have no effect.")
    factor = WarmupMultiStepFactor(
        [s for s in steps if s < schedule.max_iter],
        cfg.SOLVER.GAMMA,
        schedule.iters(cfg.SOLVER.WARMUP_EPOCHS),
        cfg.SOLVER.WARMUP_FACTOR,
    )
    logger.info(
        f"LR schedule: base {cfg.SOLVER.BASE_LR:g}, warm-up {factor.warmup_iters} iterations from x{factor.warmup_factor:g}, "
        f"x{cfg.SOLVER.GAMMA:g} at iterations {factor.step_iters}"
    )
    return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
