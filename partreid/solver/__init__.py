"""Solver: optimizers (OPTIMIZER registry) over per-parameter groups, per-iteration LR
schedules (LR_SCHEDULER registry of fvcore ParamSchedulers, applied by LRMultiplier) and
EpochSchedule, the one place where epochs become iterations.

Importing this package registers the optimizers Adam, AdamW and SGD and the schedules
WarmupMultiStepLR and WarmupCosineLR.
"""
from .build import LR_SCHEDULER_REGISTRY, OPTIMIZER_REGISTRY, build_lr_scheduler, build_optimizer
from .lr_scheduler import LRMultiplier, WarmupParamScheduler
from .param_groups import NORM_TYPES, param_groups, param_groups_from_config
from .lr_schedules import multistep_multiplier  # importing it registers the built-in schedules
from . import optimizers  # noqa: F401  (registers the built-in optimizers)
from .schedule import EpochSchedule

__all__ = [
    "OPTIMIZER_REGISTRY",
    "LR_SCHEDULER_REGISTRY",
    "build_optimizer",
    "build_lr_scheduler",
    "LRMultiplier",
    "WarmupParamScheduler",
    "multistep_multiplier",
    "param_groups",
    "param_groups_from_config",
    "NORM_TYPES",
    "EpochSchedule",
]
