"""The built-in LR schedules of SOLVER.LR_SCHEDULER_NAME (see LR_SCHEDULER_REGISTRY)."""
import bisect
import logging
from typing import Sequence

from fvcore.common.param_scheduler import CosineParamScheduler, MultiStepParamScheduler, ParamScheduler

from .build import LR_SCHEDULER_REGISTRY
from .lr_scheduler import WarmupParamScheduler
from .schedule import EpochSchedule

logger = logging.getLogger(__name__)


def multistep_multiplier(step_iters: Sequence[int], gamma: float, max_iter: int) -> MultiStepParamScheduler:
    """gamma ** (number of `step_iters` <= iteration). Steps at or before iteration 0 apply from
    the start and repeated steps compound (fvcore needs distinct milestones inside the run)."""
    steps = sorted(step_iters)
    milestones = sorted({s for s in steps if 0 < s < max_iter})
    values = [gamma ** bisect.bisect_right(steps, m) for m in [0] + milestones]
    return MultiStepParamScheduler(values, num_updates=max_iter, milestones=milestones)


def _warmup(cfg, schedule: EpochSchedule, decay: ParamScheduler):
    """`decay` times the SOLVER.WARMUP_* ramp, and the log text that describes the ramp."""
    warmup_iters = schedule.iters(cfg.SOLVER.WARMUP_EPOCHS)
    text = f"warm-up {warmup_iters} iterations from x{cfg.SOLVER.WARMUP_FACTOR:g}"
    return WarmupParamScheduler(decay, cfg.SOLVER.WARMUP_FACTOR, warmup_iters, schedule.max_iter), text


@LR_SCHEDULER_REGISTRY.register()
def WarmupMultiStepLR(cfg, schedule: EpochSchedule) -> ParamScheduler:
    """Linear warm-up x (SOLVER.GAMMA at each of SOLVER.STEPS, in epochs)."""
    steps = [schedule.iters(e) for e in cfg.SOLVER.STEPS]
    ignored = [e for e, it in zip(cfg.SOLVER.STEPS, steps) if it >= schedule.max_iter]
    if ignored:
        logger.info(f"LR steps at epochs {ignored} fall at or after the end of training and have no effect.")
    step_iters = sorted(s for s in steps if s < schedule.max_iter)
    multiplier, warmup_text = _warmup(cfg, schedule, multistep_multiplier(step_iters, cfg.SOLVER.GAMMA,
                                                                          schedule.max_iter))
    logger.info(f"LR schedule: base {cfg.SOLVER.BASE_LR:g}, {warmup_text}, "
                f"x{cfg.SOLVER.GAMMA:g} at iterations {step_iters}")
    return multiplier


@LR_SCHEDULER_REGISTRY.register()
def WarmupCosineLR(cfg, schedule: EpochSchedule) -> ParamScheduler:
    """Linear warm-up x cosine decay from 1 to SOLVER.COSINE_END_FACTOR over the whole run."""
    end = cfg.SOLVER.COSINE_END_FACTOR
    if not 0.0 <= end <= 1.0:
        raise ValueError(f"SOLVER.COSINE_END_FACTOR must be in [0, 1], got {end}")
    multiplier, warmup_text = _warmup(cfg, schedule, CosineParamScheduler(start_value=1.0, end_value=end))
    logger.info(f"LR schedule: base {cfg.SOLVER.BASE_LR:g}, {warmup_text}, cosine decay to x{end:g} "
                f"at iteration {schedule.max_iter}")
    return multiplier
