import pytest
import torch

from partreid.config import get_cfg
from partreid.solver import EpochSchedule, build_lr_scheduler


def test_epoch_schedule_conversions():
    s = EpochSchedule(iters_per_epoch=10, max_epochs=12)
    assert s.max_iter == 120
    assert s.iters(2.5) == 25
    assert s.epoch_of(0) == 0 and s.epoch_of(9) == 0 and s.epoch_of(10) == 1
    assert s.period(0) == 0 and s.period(0.01) == 1
    assert "10 iterations/epoch x 12 epochs = 120 iterations, 8 images/iteration, 960 images" in s.describe(8)
    with pytest.raises(ValueError):
        EpochSchedule(0, 5)


def test_lr_scheduler_steps_per_iteration_in_epochs():
    cfg = get_cfg()
    cfg.merge_from_list(["SOLVER.BASE_LR", "1.0", "SOLVER.STEPS", "[2, 3, 4]", "SOLVER.WARMUP_EPOCHS", "1",
                         "SOLVER.WARMUP_FACTOR", "0.5"])
    p = torch.nn.Parameter(torch.zeros(1))
    opt = torch.optim.SGD([p], lr=1.0)
    sched = build_lr_scheduler(cfg, opt, EpochSchedule(iters_per_epoch=4, max_epochs=4))
    lrs = []
    for _ in range(16):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    # warm-up over the first epoch (4 iterations), x0.1 at epochs 2 and 3; the step at epoch 4 is the end
    assert lrs[:4] == pytest.approx([0.5, 0.625, 0.75, 0.875])
    assert lrs[4:8] == pytest.approx([1.0] * 4)
    assert lrs[8:12] == pytest.approx([0.1] * 4)
    assert lrs[12:16] == pytest.approx([0.01] * 4)


def test_epochs_of_their_own_lengths():
    s = EpochSchedule.from_epoch_lengths([3, 5, 4], max_epochs=3)
    assert s.varies and s.iters_per_epoch == 4 and s.max_iter == 12
    assert [s.iters(e) for e in (0, 1, 2, 3)] == [0, 3, 8, 12]
    assert s.iters(1.5) == 3 + round(2.5)  # half of the 5-iteration epoch 1, rounded
    assert [s.epoch_of(i) for i in range(12)] == [0] * 3 + [1] * 5 + [2] * 4
    assert s.iters(5) == 12 + 2 * 4 and s.epoch_of(12) == 3  # past the listed epochs: the nominal length
    assert s.period(2) == 8
    assert "3-5 (mean 4) iterations/epoch" in s.describe(10) and "12 iterations" in s.describe(10)
    equal = EpochSchedule.from_epoch_lengths([6, 6], max_epochs=2)
    assert not equal.varies and equal == EpochSchedule(6, 2)
    with pytest.raises(ValueError, match="2 epoch lengths given for SOLVER.MAX_EPOCHS=3"):
        EpochSchedule(4, 3, (4, 4))


def test_lr_steps_fall_on_the_first_iteration_of_their_epoch_when_epochs_differ():
    cfg = get_cfg()
    cfg.SOLVER.STEPS, cfg.SOLVER.GAMMA, cfg.SOLVER.WARMUP_EPOCHS = [1, 2], 0.1, 0.0
    opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = build_lr_scheduler(cfg, opt, EpochSchedule.from_epoch_lengths([3, 5, 4], max_epochs=3))
    lrs = []
    for _ in range(12):
        lrs.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    assert lrs == pytest.approx([1.0] * 3 + [0.1] * 5 + [0.01] * 4)
