"""LR schedules: the default is bitwise the formula partreid used before the fvcore schedules,
cosine has its shape, the registry is extensible, and the state survives a resume."""
import bisect
import logging
import math

import pytest
import torch
from fvcore.common.param_scheduler import ConstantParamScheduler

from partreid.config import get_cfg
from partreid.solver import LR_SCHEDULER_REGISTRY, EpochSchedule, LRMultiplier, build_lr_scheduler


def previous_factor(iteration, step_iters, gamma, warmup_iters, warmup_factor):
    """partreid's former WarmupMultiStepFactor (a LambdaLR lambda), kept here as the reference."""
    factor = gamma ** bisect.bisect_right(sorted(step_iters), iteration)
    if iteration < warmup_iters:
        alpha = iteration / warmup_iters
        factor *= warmup_factor * (1 - alpha) + alpha
    return factor


def solver_cfg(**solver):
    cfg = get_cfg()
    for key, value in solver.items():
        cfg.SOLVER[key] = value
    return cfg


def lrs_over_run(cfg, schedule, base_lrs=(1.0,)):
    """The LR of every group at iterations 0..max_iter (the hook steps after each iteration)."""
    params = [torch.nn.Parameter(torch.zeros(1)) for _ in base_lrs]
    opt = torch.optim.SGD([{"params": [p], "lr": lr} for p, lr in zip(params, base_lrs)], lr=1.0)
    sched = build_lr_scheduler(cfg, opt, schedule)
    opt.step()  # no gradients: only tells torch that the optimizer steps before the scheduler
    lrs = []
    for _ in range(schedule.max_iter + 1):
        lrs.append([g["lr"] for g in opt.param_groups])
        sched.step()
    return lrs


@pytest.mark.parametrize("ipe, max_epochs, steps, warmup_epochs, warmup_factor, gamma", [
    (4, 4, [2, 3, 4], 1, 0.5, 0.1),            # a step at the very end (ignored)
    (7, 10, [3, 6], 2.5, 0.01, 0.1),           # fractional warm-up
    (3, 5, [0.5, 1], 3, 0.1, 0.5),             # steps inside the warm-up keep applying
    (5, 4, [1, 1.1, 9], 0, 0.01, 0.2),         # two epochs rounding to one iteration compound; one after the end
    (6, 3, [0, 2], 4, 0.3, 0.1),               # a step at iteration 0; warm-up longer than the run
    (1, 3, [], 1, 0.01, 0.1),                  # no steps
    (397, 120, [40, 70], 10, 0.01, 0.1),       # a full-size SYSU-MM01-like run (47640 iterations)
])
def test_default_schedule_is_bitwise_the_previous_formula(ipe, max_epochs, steps, warmup_epochs, warmup_factor,
                                                         gamma):
    cfg = solver_cfg(STEPS=steps, WARMUP_EPOCHS=float(warmup_epochs), WARMUP_FACTOR=warmup_factor, GAMMA=gamma)
    assert cfg.SOLVER.LR_SCHEDULER_NAME == "WarmupMultiStepLR"
    schedule = EpochSchedule(ipe, max_epochs)
    step_iters = [schedule.iters(e) for e in steps if schedule.iters(e) < schedule.max_iter]
    warmup_iters = schedule.iters(warmup_epochs)
    base_lrs = (3.5e-4, 3.5e-4 * 0.1)
    for it, lrs in enumerate(lrs_over_run(cfg, schedule, base_lrs)):
        factor = previous_factor(it, step_iters, gamma, warmup_iters, warmup_factor)
        assert lrs == [base * factor for base in base_lrs], it


def test_default_schedule_log_lines(caplog):
    cfg = solver_cfg(STEPS=[2, 3, 4], WARMUP_EPOCHS=1.0, WARMUP_FACTOR=0.5)
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    with caplog.at_level(logging.INFO, logger="partreid.solver"):
        build_lr_scheduler(cfg, opt, EpochSchedule(4, 4))
    assert "LR steps at epochs [4] fall at or after the end of training and have no effect." in caplog.text
    assert "LR schedule: base 0.00035, warm-up 4 iterations from x0.5, x0.1 at iterations [8, 12]" in caplog.text


def test_cosine_schedule_shape_and_floor(caplog):
    cfg = solver_cfg(LR_SCHEDULER_NAME="WarmupCosineLR", COSINE_END_FACTOR=0.1, WARMUP_EPOCHS=1.0, WARMUP_FACTOR=0.2)
    schedule = EpochSchedule(iters_per_epoch=5, max_epochs=4)  # 20 iterations, 5 of warm-up
    with caplog.at_level(logging.INFO, logger="partreid.solver"):
        lrs = [lr for (lr,) in lrs_over_run(cfg, schedule)]
    assert "LR schedule: base 0.00035, warm-up 5 iterations from x0.2, cosine decay to x0.1 at iteration 20" in caplog.text

    def cosine(it):
        return 0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * it / 20))

    assert lrs[0] == pytest.approx(0.2)
    assert lrs[2] == pytest.approx(cosine(2) * (0.2 * 0.6 + 0.4))  # the ramp multiplies the cosine
    assert lrs[5:] == pytest.approx([cosine(it) for it in range(5, 21)])
    assert lrs[10] == pytest.approx(0.55) and lrs[20] == pytest.approx(0.1)
    assert all(a > b for a, b in zip(lrs[5:], lrs[6:]))

    with pytest.raises(ValueError, match="SOLVER.COSINE_END_FACTOR"):
        build_lr_scheduler(solver_cfg(LR_SCHEDULER_NAME="WarmupCosineLR", COSINE_END_FACTOR=1.5),
                           torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0), schedule)


@LR_SCHEDULER_REGISTRY.register()
def HalfLRForTest(cfg, schedule):
    """A schedule registered from outside partreid, as a project would."""
    return ConstantParamScheduler(0.5)


def test_a_registered_schedule_is_built_by_name_and_an_unknown_one_is_named():
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=2.0)
    sched = build_lr_scheduler(solver_cfg(LR_SCHEDULER_NAME="HalfLRForTest"), opt, EpochSchedule(2, 2))
    assert isinstance(sched, torch.optim.lr_scheduler.LRScheduler)
    assert opt.param_groups[0]["lr"] == 1.0
    with pytest.raises(KeyError, match=r"SOLVER.LR_SCHEDULER_NAME.*WarmupCosineLR, WarmupMultiStepLR"):
        build_lr_scheduler(solver_cfg(LR_SCHEDULER_NAME="Cosine"), opt, EpochSchedule(2, 2))


def two_group_optimizer():
    params = [torch.nn.Parameter(torch.zeros(1)), torch.nn.Parameter(torch.zeros(1))]
    return torch.optim.Adam([{"params": [params[0]], "lr": 0.1}, {"params": [params[1]], "lr": 1.0}], lr=1.0)


def test_state_dict_resumes_on_the_same_lr():
    cfg = solver_cfg(STEPS=[1, 2], WARMUP_EPOCHS=0.5, WARMUP_FACTOR=0.1)
    schedule = EpochSchedule(iters_per_epoch=4, max_epochs=3)
    opt = two_group_optimizer()
    sched = build_lr_scheduler(cfg, opt, schedule)
    for _ in range(5):
        opt.step()
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    assert set(saved_sched) == {"base_lrs", "last_epoch"}  # the multiplier comes from the config
    uninterrupted = []
    for _ in range(7):
        uninterrupted.append(sched.get_last_lr())
        opt.step()
        sched.step()

    # a resume builds everything from the config, then loads the optimizer and the scheduler state
    opt2 = two_group_optimizer()
    sched2 = build_lr_scheduler(cfg, opt2, schedule)
    opt2.load_state_dict(saved_opt)
    sched2.load_state_dict(saved_sched)
    resumed = []
    for _ in range(7):
        assert [g["lr"] for g in opt2.param_groups] == sched2.get_last_lr()
        resumed.append(sched2.get_last_lr())
        opt2.step()
        sched2.step()
    assert resumed == uninterrupted


def test_loads_the_previous_lambdalr_state_and_a_longer_runs_position():
    schedule = EpochSchedule(iters_per_epoch=4, max_epochs=3)
    cfg = solver_cfg(STEPS=[1, 2])
    opt = two_group_optimizer()
    old = torch.optim.lr_scheduler.LambdaLR(opt, lambda it: previous_factor(it, [4, 8], 0.1, 0, 0.01))
    for _ in range(6):
        opt.step()
        old.step()
    old_state, old_lrs = old.state_dict(), old.get_last_lr()

    opt2 = two_group_optimizer()
    sched = build_lr_scheduler(cfg, opt2, schedule)
    opt2.load_state_dict(opt.state_dict())
    sched.load_state_dict(old_state)
    assert sched.last_epoch == 6 and sched.get_last_lr() == old_lrs

    # the position of a longer run (past this run's 12 iterations) loads on the final LR
    sched.load_state_dict({"base_lrs": [0.1, 1.0], "last_epoch": 30})
    assert sched.get_last_lr() == [0.1 * 0.1 ** 2, 1.0 * 0.1 ** 2]
    with pytest.raises(ValueError, match="parameter groups"):
        sched.load_state_dict({"base_lrs": [1.0], "last_epoch": 3})


def test_lr_multiplier_needs_a_param_scheduler():
    with pytest.raises(TypeError, match="ParamScheduler"):
        LRMultiplier(two_group_optimizer(), lambda where: 1.0, max_iter=10)
