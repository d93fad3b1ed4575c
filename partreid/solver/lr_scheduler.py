"""The per-iteration LR: a torch LRScheduler whose shape is an fvcore ParamScheduler.

A schedule is a multiplier of the initial LR as a function of the training progress
`where = iteration / max_iter` in [0, 1] (fvcore.common.param_scheduler composes these);
LRMultiplier applies it to every parameter group once per iteration, so the trainer's hook
and the checkpoint only ever see a standard torch scheduler.
"""
from typing import List

import torch
from fvcore.common.param_scheduler import LinearParamScheduler, ParamScheduler


class LRMultiplier(torch.optim.lr_scheduler.LRScheduler):
    """Sets each group's LR to its initial LR x `multiplier(iteration / max_iter)`.

    `step()` is called once per iteration. Past `max_iter` the multiplier stays at its final
    value (fvcore schedulers are only defined on [0, 1]), so loading the state of a longer run
    into a shorter one cannot fail. Its state is the position and the initial LRs only: the
    multiplier is rebuilt from the config on resume.
    """

    def __init__(self, optimizer: torch.optim.Optimizer, multiplier: ParamScheduler, max_iter: int,
                 last_iter: int = -1):
        if not isinstance(multiplier, ParamScheduler):
            raise TypeError(f"LRMultiplier needs an fvcore ParamScheduler, got {type(multiplier).__name__}")
        if max_iter < 1:
            raise ValueError(f"LRMultiplier needs max_iter >= 1, got {max_iter}")
        self._multiplier = multiplier
        self._max_iter = max_iter
        super().__init__(optimizer, last_epoch=last_iter)

    def multiplier(self) -> float:
        """The factor applied to the initial LRs at the current iteration."""
        return self._multiplier(min(self.last_epoch, self._max_iter) / self._max_iter)

    def get_lr(self) -> List[float]:
        factor = self.multiplier()
        return [base_lr * factor for base_lr in self.base_lrs]

    def state_dict(self) -> dict:
        return {"base_lrs": self.base_lrs, "last_epoch": self.last_epoch}

    def load_state_dict(self, state: dict) -> None:
        """Restore the position; the optimizer's groups get this schedule's LR at once, so the
        first resumed iteration uses the LR of the schedule in the config. Also reads the state
        of the LambdaLR that partreid used before (same `base_lrs` and `last_epoch`)."""
        self.base_lrs = list(state["base_lrs"])
        self.last_epoch = state["last_epoch"]
        if len(self.base_lrs) != len(self.optimizer.param_groups):
            raise ValueError(
                f"The checkpoint's LR scheduler has {len(self.base_lrs)} parameter groups, this optimizer has "
                f"{len(self.optimizer.param_groups)}: the SOLVER parameter-group keys differ from the "
                "checkpointed run's."
            )
        for group, lr in zip(self.optimizer.param_groups, self.get_lr()):
            group["lr"] = lr
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]


class WarmupParamScheduler(ParamScheduler):
    """`scheduler(where)` times a linear ramp from `warmup_factor` to 1 over the first
    `warmup_iters` of `max_iter` iterations.

    The ramp multiplies the schedule instead of handing over to it (as CompositeParamScheduler
    would), so a decay that starts inside the warm-up still applies. Like
    MultiStepParamScheduler, `where` is resolved to a whole iteration, and the ramp (fvcore's
    LinearParamScheduler) is evaluated at exactly iteration / warmup_iters: the values are
    bitwise those of the formula partreid has always used.
    """

    def __init__(self, scheduler: ParamScheduler, warmup_factor: float, warmup_iters: int, max_iter: int):
        self._scheduler = scheduler
        self._ramp = LinearParamScheduler(start_value=warmup_factor, end_value=1.0)
        self._warmup_iters = warmup_iters
        self._max_iter = max_iter

    def __call__(self, where: float) -> float:
        value = self._scheduler(where)
        iteration = round(where * self._max_iter)
        if iteration < self._warmup_iters:
            value *= self._ramp(iteration / self._warmup_iters)
        return value
