"""Progress reporting: console ETA, the end-of-run summary table, and TensorBoard scalars
(checked with a stand-in SummaryWriter, since tensorboard is not a dependency)."""
import logging
import sys
import types
from collections import OrderedDict

import pytest
import torch

from partreid.checkpoint import ReidCheckpointer
from partreid.engine import hooks
from partreid.engine.train_loop import SimpleTrainer
from partreid.utils.events import ConsoleWriter, EventStorage, JSONWriter, TensorboardWriter, read_metrics


class Regression(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.lin = torch.nn.Linear(3, 1)

    def forward(self, batch):
        return {"loss_mse": ((self.lin(batch["x"]).squeeze(1) - batch["x"].sum(1)) ** 2).mean()}


def stream(start_iter):
    i = start_iter
    while True:
        yield {"x": torch.randn(4, 3, generator=torch.Generator().manual_seed(i))}
        i += 1


def test_run_summary_reports_metrics_best_time_throughput_and_files(tmp_path, caplog):
    torch.manual_seed(0)
    model = Regression()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = SimpleTrainer(model, stream, opt, seed=0)
    scores = iter([50.0, 70.0, 60.0])
    eval_hook = hooks.EvalHook(2, lambda: OrderedDict(main={"mAP": next(scores), "mAP_std": 1.0}), lambda r: {})
    best = hooks.BestCheckpointer(eval_hook, ReidCheckpointer(model, str(tmp_path)), "mAP")
    trainer.register_hooks([eval_hook, best, hooks.RunSummary(eval_hook, best, 4, str(tmp_path))])
    with caplog.at_level(logging.INFO, logger="partreid.engine.hooks"):
        trainer.train(0, 6)
    summary = caplog.text[caplog.text.index("Run summary"):]
    assert "finished" in summary
    assert "final main" in summary and "mAP 60.00 (iteration 6)" in summary and "mAP_std" not in summary
    assert "best mAP" in summary and "70.00 at iteration 4" in summary
    assert "images/s" in summary and "model_best.pth" in summary


def test_log_summary_checkpoints_and_metrics_agree_on_iteration_numbers(tmp_path, caplog):
    """A run stopped after its 5th iteration: the log says iter: 5/6, the summary "stopped after
    iteration 5", the checkpoint is model_0000005.pth and metrics.json's last row is iteration 5."""
    torch.manual_seed(0)
    model = Regression()
    opt = torch.optim.SGD(model.parameters(), lr=0.01)
    trainer = SimpleTrainer(model, stream, opt, seed=0)

    class StopAfterFive(hooks.HookBase):
        def after_step(self):
            if self.trainer.iter == 4:
                raise KeyboardInterrupt

    eval_hook = hooks.EvalHook(0, lambda: None, lambda r: {})
    best = hooks.BestCheckpointer(eval_hook, ReidCheckpointer(model, str(tmp_path)), "mAP")
    writers = [ConsoleWriter(max_iter=6, iters_per_epoch=3), JSONWriter(str(tmp_path / "metrics.json"))]
    trainer.register_hooks([hooks.PeriodicWriter(writers, 1),
                            hooks.PeriodicCheckpointer(ReidCheckpointer(model, str(tmp_path), trainer=trainer), 5, 6),
                            StopAfterFive(), hooks.RunSummary(eval_hook, best, 4, str(tmp_path))])
    with caplog.at_level(logging.INFO), pytest.raises(KeyboardInterrupt):
        trainer.train(0, 6)
    assert "iter: 5/6" in caplog.text and "iter: 6/6" not in caplog.text
    assert "stopped after iteration 5 of 6" in caplog.text
    assert sorted(p.name for p in tmp_path.glob("model_*.pth")) == ["model_0000005.pth"]
    assert [row["iteration"] for row in read_metrics(str(tmp_path / "metrics.json"))] == [1, 2, 3, 4, 5]
    assert torch.load(tmp_path / "model_0000005.pth", weights_only=True)["iteration"] == 5


def test_console_line_has_eta_and_losses(caplog):
    writer = ConsoleWriter(max_iter=100, iters_per_epoch=10)
    with EventStorage(start_iter=20) as storage, caplog.at_level(logging.INFO, logger="partreid.train"):
        storage.put_scalars(total_loss=2.0, loss_id=1.5, time=0.5, lr=0.1)
        writer.write()
    assert "eta: 0:00:40" in caplog.text and "epoch: 1 iter: 20/100" in caplog.text and "loss_id: 1.5" in caplog.text
    assert "medians of the last 20 iterations" in caplog.text  # the log says what it smooths, and how


def test_tensorboard_writer_sends_each_new_scalar_once(monkeypatch, tmp_path):
    calls = []

    class FakeSummaryWriter:
        def __init__(self, log_dir):
            calls.append(("open", log_dir))

        def add_scalar(self, name, value, step):
            calls.append((name, value, step))

        def close(self):
            calls.append(("close",))

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", types.SimpleNamespace(SummaryWriter=FakeSummaryWriter))
    writer = TensorboardWriter(str(tmp_path))
    with EventStorage(start_iter=0) as storage:
        storage.put_scalars(total_loss=3.0, lr=0.1)
        writer.write()
        storage.iter = 1
        storage.put_scalar("total_loss", 2.0)
        writer.write()
        writer.write()
    writer.close()
    assert calls[0] == ("open", str(tmp_path))
    assert sorted(calls[1:3]) == [("lr", 0.1, 0), ("total_loss", 3.0, 0)]
    assert calls[3:] == [("total_loss", 2.0, 1), ("close",)]
