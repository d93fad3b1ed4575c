from .build import build_lr_scheduler, build_optimizer, WarmupMultiStepFactor
from .schedule import EpochSchedule

__all__ = ["build_lr_scheduler", "build_optimizer", "WarmupMultiStepFactor", "EpochSchedule"]
