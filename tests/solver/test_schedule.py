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
