"""Trainer, hooks and checkpoints with a toy model and an in-memory data stream."""
import math
import os
import sys

import pytest
import torch

import partreid
from partreid.checkpoint import ReidCheckpointer, load_checkpoint_file
from partreid.engine import hooks
from partreid.engine.train_loop import SimpleTrainer
from partreid.solver import EpochSchedule, LRMultiplier, WarmupParamScheduler, multistep_multiplier


class ToyModel(torch.nn.Module):
    """Regression with a random mask drawn inside forward (like a mixer would), so resume
    equality also checks that in-model randomness is reproduced."""

    def __init__(self, fail_at=None):
        super().__init__()
        self.lin = torch.nn.Linear(4, 1)
        self.fail_at = fail_at

    def forward(self, batch):
        x, y = batch["x"], batch["y"]
        mask = (torch.rand(x.shape[0]) > 0.3).float()
        err = ((self.lin(x).squeeze(1) - y) ** 2 * mask).mean()
        if self.fail_at is not None and batch["iteration"] == self.fail_at:
            err = err * float("nan")
        return {"loss_mse": err, "loss_l1": 0.01 * self.lin.weight.abs().sum()}


def stream(start_iter):
    """Batch i is a pure function of i (as the real loader guarantees)."""
    i = start_iter
    while True:
        g = torch.Generator().manual_seed(i)
        x = torch.randn(8, 4, generator=g)
        yield {"x": x, "y": x.sum(1)}
        i += 1


def make(tmp_path, max_iter=12, period=4, eval_fn=None, fail_at=None, history=False, check_period=1):
    torch.manual_seed(0)
    model = ToyModel(fail_at)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    multiplier = WarmupParamScheduler(multistep_multiplier([6], 0.1, max_iter), 0.5, 2, max_iter)
    sched = LRMultiplier(opt, multiplier, max_iter)
    schedule = EpochSchedule(iters_per_epoch=3, max_epochs=max_iter / 3)
    trainer = SimpleTrainer(model, stream, opt, seed=7, epoch_of=schedule.epoch_of, check_period=check_period)
    ckpt = ReidCheckpointer(model, str(tmp_path), optimizer=opt, trainer=trainer)
    hook_list = [hooks.IterationTimer(), hooks.LRScheduler(opt, sched)]
    if eval_fn is not None:
        ev = hooks.EvalHook(period, eval_fn, lambda r: {f"{g}/{k}": v for g, m in r.items() for k, v in m.items()},
                            history_path=str(tmp_path / "evaluations.json") if history else "")
        hook_list += [ev, hooks.BestCheckpointer(ev, ckpt, "score")]
    hook_list.append(hooks.PeriodicCheckpointer(ckpt, period, max_iter, max_to_keep=2))
    trainer.register_hooks(hook_list)
    return trainer, ckpt, model, opt


def test_resume_reproduces_uninterrupted_run(tmp_path):
    full_dir, part_dir = tmp_path / "full", tmp_path / "part"
    trainer, _, model_full, opt_full = make(full_dir)
    trainer.train(0, 12)

    # the interrupted run: stop after iteration 8 (checkpoint model_0000008 exists), then resume
    trainer, ckpt, _, _ = make(part_dir)
    trainer.train(0, 8)
    assert (part_dir / "last_checkpoint").read_text() == "model_0000008.pth"
    trainer2, ckpt2, model_res, opt_res = make(part_dir)
    ckpt2.resume_or_load("", resume=True)
    assert trainer2.iter == 7
    trainer2.train(trainer2.iter + 1, 12)

    for a, b in zip(model_full.state_dict().values(), model_res.state_dict().values()):
        assert torch.equal(a, b)
    sa, sb = opt_full.state_dict(), opt_res.state_dict()
    assert sa["param_groups"][0]["lr"] == sb["param_groups"][0]["lr"]
    for k in sa["state"]:
        for name in ("exp_avg", "exp_avg_sq", "step"):
            assert torch.equal(torch.as_tensor(sa["state"][k][name]), torch.as_tensor(sb["state"][k][name]))
    assert trainer2.iter == 12
    # keep-N: only the 2 newest periodic checkpoints + the final one remain
    files = sorted(f for f in os.listdir(part_dir) if f.endswith(".pth"))
    assert files == ["model_0000008.pth", "model_0000012.pth", "model_final.pth"]


def test_lr_is_restored_after_resume(tmp_path):
    trainer, _, _, _ = make(tmp_path)
    trainer.train(0, 8)  # LR drops x0.1 from iteration 6 on
    trainer2, ckpt2, _, opt = make(tmp_path)
    ckpt2.resume_or_load("", resume=True)
    assert opt.param_groups[0]["lr"] == pytest.approx(0.1 * 0.1)


def test_nan_loss_stops_with_terms(tmp_path):
    trainer, _, _, _ = make(tmp_path, fail_at=5)
    # the step of index 5 is the 6th iteration
    with pytest.raises(FloatingPointError, match=r"iteration 6 \(epoch 1\).*loss_mse=nan.*loss_l1="):
        trainer.train(0, 12)
    # the checkpoint written before the failure is intact and loadable
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000004.pth"
    load_checkpoint_file(str(tmp_path / "model_0000004.pth"))


def test_nan_checked_once_per_period_still_never_reaches_a_checkpoint(tmp_path):
    """With a check every 10 steps, the NaN of the 6th iteration is found at the checkpoint after
    8 iterations (checked before it is saved): named with its own iteration and terms, and the
    last checkpoint is still the one after 4 iterations."""
    trainer, _, _, _ = make(tmp_path, fail_at=5, check_period=10)
    with pytest.raises(FloatingPointError, match=r"iteration 6 \(epoch 1\).*loss_mse=nan.*loss_l1="):
        trainer.train(0, 12)
    assert trainer.iter == 7
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000004.pth"
    assert not (tmp_path / "model_0000008.pth").exists()


def test_steps_between_checks_read_nothing_back(tmp_path, monkeypatch):
    """Loss terms go into the storage as tensors; partreid converts nothing to a Python number
    (a host sync on a GPU) except at the check period (torch's Adam reads its CPU step counter,
    which costs no sync, and is not counted)."""
    trainer, _, _, _ = make(tmp_path, max_iter=12, period=100, check_period=6)
    # the package's own folder, not any path holding "partreid" (CI's venv lives under one)
    package_dir = os.path.dirname(partreid.__file__) + os.sep
    conversions = []
    for method in ("item", "tolist", "__float__", "__bool__"):
        original = getattr(torch.Tensor, method)

        def counted(self, *args, _original=original, _method=method):
            if sys._getframe(1).f_code.co_filename.startswith(package_dir):
                conversions.append((trainer.iter, _method))
            return _original(self, *args)

        monkeypatch.setattr(torch.Tensor, method, counted)
    trainer.train(0, 12)
    assert conversions and {it for it, _ in conversions} == {5, 11}, conversions


def test_eval_hook_periods_and_best_checkpoint(tmp_path):
    calls = []
    scores = iter([5.0, 9.0, 7.0])

    def eval_fn():
        calls.append(trainer.iter)
        return {"main": {"score": next(scores)}}

    trainer, _, _, _ = make(tmp_path, max_iter=12, period=4, eval_fn=eval_fn)
    trainer.train(0, 12)
    assert calls == [3, 7, 11]  # every 4 iterations, and once after the last one (not twice)
    best = load_checkpoint_file(tmp_path / "model_best.pth")
    assert best["iteration"] == 8 and best["best_value"] == 9.0
    # model_best does not hijack the resume pointer
    assert (tmp_path / "last_checkpoint").read_text() == "model_final.pth"


def test_missing_or_stale_best_checkpoint_is_rebuilt_on_resume(tmp_path):
    scores = iter([5.0, 9.0, 7.0])
    trainer, _, _, _ = make(tmp_path, eval_fn=lambda: {"main": {"score": next(scores)}}, history=True)
    trainer.train(0, 12)
    best = torch.load(tmp_path / "model_best.pth", weights_only=True)
    for damage in ((tmp_path / "model_best.pth").unlink,
                   lambda: torch.save({**best, "iteration": 4}, tmp_path / "model_best.pth")):
        damage()
        # resumed after the last iteration: the history (evaluations.json) says the best is iteration 8
        resumed, ckpt, _, _ = make(tmp_path, eval_fn=lambda: pytest.fail("evaluated again"), history=True)
        ckpt.resume_or_load("", resume=True)
        resumed.train(resumed.iter + 1, 12)
        rebuilt = torch.load(tmp_path / "model_best.pth", weights_only=True)
        assert (rebuilt["iteration"], rebuilt["best_value"]) == (8, 9.0)
        assert all(torch.equal(rebuilt["model"][k], best["model"][k]) for k in best["model"])


def test_corrupt_checkpoint_is_a_clear_error_and_leaves_others(tmp_path):
    trainer, _, _, _ = make(tmp_path)
    trainer.train(0, 8)
    good = (tmp_path / "model_0000004.pth").read_bytes()
    (tmp_path / "model_0000008.pth").write_bytes(b"truncated")
    _, ckpt, _, _ = make(tmp_path)
    with pytest.raises(RuntimeError, match=r"model_0000008\.pth is unreadable.*model_0000004\.pth"):
        ckpt.resume_or_load("", resume=True)
    assert (tmp_path / "model_0000004.pth").read_bytes() == good


def test_failed_save_keeps_previous_checkpoint(tmp_path, monkeypatch):
    trainer, ckpt, _, _ = make(tmp_path)
    trainer.train(0, 4)
    before = (tmp_path / "model_0000004.pth").read_bytes()

    def disk_full(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", disk_full)
    with pytest.raises(OSError, match="No space"):
        ckpt.save("model_0000004")
    assert (tmp_path / "model_0000004.pth").read_bytes() == before
    assert (tmp_path / "last_checkpoint").read_text() == "model_0000004.pth"
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]


def test_loss_decreases(tmp_path):
    trainer, _, model, _ = make(tmp_path, max_iter=30, period=100)
    first = None

    class Record(hooks.HookBase):
        def after_step(self):
            nonlocal first
            v = self.trainer.storage.latest()["loss_mse"][0]
            first = v if first is None else first
            self.last = v

    rec = Record()
    trainer.register_hooks([rec])
    trainer.train(0, 30)
    assert math.isfinite(rec.last) and rec.last < first
