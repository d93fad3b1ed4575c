"""The trainer shuts its loader's workers down when training stops, however it stops, in a
bounded time, even with a worker stuck in a batch (partreid.data.shutdown)."""
import time

import pytest
import torch
from torch.utils.data import DataLoader, Dataset

from partreid.data.shutdown import close_loader_iterator
from partreid.engine.train_loop import HookBase, SimpleTrainer

# more workers than the test machine's cores, on purpose (torch warns about it)
pytestmark = pytest.mark.filterwarnings("ignore:This DataLoader will create")

NUM_WORKERS = 8
BATCH = 2


class _Images(Dataset):
    """Index -> a tiny batch item; `stuck_index` sleeps for good (a worker hung on a file)."""

    def __init__(self, stuck_index=None):
        self.stuck_index = stuck_index

    def __len__(self):
        return 10**6

    def __getitem__(self, index):
        if index == self.stuck_index:
            time.sleep(10**6)
        return torch.full((4,), float(index % 7))


class _EndlessBatches:
    """Batch n holds the indices n*BATCH .. n*BATCH + BATCH - 1, without end (like the samplers)."""

    def __iter__(self):
        n = 0
        while True:
            yield list(range(n * BATCH, (n + 1) * BATCH))
            n += 1


class _RecordingLoader(DataLoader):
    """A DataLoader that keeps the iterators it hands out, so the test can look at the workers."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.iterators = []

    def __iter__(self):
        iterator = super().__iter__()
        self.iterators.append(iterator)
        return iterator


def _collate(items):
    return {"x": torch.stack(items)}


class _Model(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.ones(4))

    def forward(self, batch):
        return {"loss": (batch["x"] * self.weight).mean()}


class _StepClock(HookBase):
    """Time of the end of the last step; optionally raises in a step."""

    def __init__(self, raise_at=None, error=RuntimeError):
        self.raise_at, self.error = raise_at, error
        self.last_step_end = None

    def after_step(self):
        self.last_step_end = time.perf_counter()
        if self.trainer.iter == self.raise_at:
            raise self.error("stop here")


def _trainer(stuck_index=None, raise_at=None, error=RuntimeError):
    loader = _RecordingLoader(_Images(stuck_index), batch_sampler=_EndlessBatches(), num_workers=NUM_WORKERS,
                              collate_fn=_collate)
    model = _Model()
    trainer = SimpleTrainer(model, lambda start_iter: loader, torch.optim.SGD(model.parameters(), lr=0.1), seed=0)
    clock = _StepClock(raise_at, error)
    trainer.register_hooks([clock])
    return trainer, loader, clock


def _train(max_iter, stuck_index=None):
    """(seconds from the end of the last step to train()'s return, the loader's workers)."""
    trainer, loader, clock = _trainer(stuck_index)
    trainer.train(0, max_iter)
    seconds = time.perf_counter() - clock.last_step_end
    (iterator,) = loader.iterators
    return seconds, iterator._workers


def _assert_all_stopped(workers):
    assert len(workers) == NUM_WORKERS
    assert not any(worker.is_alive() for worker in workers)


def test_eight_workers_stop_within_two_seconds_of_the_last_step():
    seconds, workers = _train(max_iter=3)
    _assert_all_stopped(workers)
    assert seconds < 2.0


def test_a_stuck_worker_is_terminated_within_the_deadline():
    # batch 3 is never consumed (3 steps) but is prefetched: its worker sleeps inside it
    seconds, workers = _train(max_iter=3, stuck_index=3 * BATCH)
    _assert_all_stopped(workers)
    assert seconds < 2.0


@pytest.mark.parametrize("error", [RuntimeError, KeyboardInterrupt])
def test_workers_stop_when_training_raises(error):
    trainer, loader, _ = _trainer(raise_at=1, error=error)
    with pytest.raises(error, match="stop here"):
        trainer.train(0, 50)
    _assert_all_stopped(loader.iterators[0]._workers)
    assert trainer._data_iter is None


def test_close_is_idempotent_and_accepts_single_process_iterators():
    loader = DataLoader(_Images(), batch_sampler=_EndlessBatches(), num_workers=0,
                        collate_fn=_collate)
    iterator = iter(loader)
    next(iterator)
    close_loader_iterator(iterator)
    close_loader_iterator(None)

    def generator():
        yield 1

    stream = generator()
    next(stream)
    close_loader_iterator(stream)
    assert list(stream) == []


def test_precise_bn_shuts_its_loader_down():
    """PreciseBN builds a loader at every evaluation and reads a few batches of it: its workers
    are stopped when the statistics are done, not left to a garbage collection."""
    from partreid.engine.hooks import PreciseBN

    class _BNModel(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.bn = torch.nn.BatchNorm1d(4)

    loaders = []

    def loader_fn(start_iter):
        loaders.append(_RecordingLoader(_Images(), batch_sampler=_EndlessBatches(), num_workers=NUM_WORKERS,
                                        collate_fn=_collate))
        return loaders[-1]

    model = _BNModel()
    hook = PreciseBN(1, model, lambda batch: model.bn(batch["x"]), loader_fn, num_iter=2)
    hook.trainer = type("Trainer", (), {"iter": 0, "max_iter": 1})()
    hook.update_stats()
    _assert_all_stopped(loaders[0].iterators[0]._workers)
    assert model.bn.num_batches_tracked.item() > 0
