"""Training-time scalars and the writers that print / store them.

The trainer owns one EventStorage; losses, the LR, timings and evaluation results are put
into it and writers periodically flush what is new: the console (with ETA), metrics.json
(one JSON object per line, append-only, readable while training runs) and TensorBoard
when it is installed. `storage.iter` is the iteration's number as users see it (iterations
done once its step has run, counted from 1), and so is every row's "iteration". metrics.json
holds the value each scalar had at its iteration; only the console smooths (the median of
the last `window` iterations), and says so in the log.
"""
import datetime
import json
import logging
import os
import statistics
from collections import defaultdict, deque
from typing import Dict, List

import torch

from .faults import kill_point
from .optional import missing_extra

_CURRENT_STORAGE = []


def get_event_storage() -> "EventStorage":
    if not _CURRENT_STORAGE:
        raise RuntimeError("get_event_storage() must be called inside `with EventStorage(...)`")
    return _CURRENT_STORAGE[-1]


def has_event_storage() -> bool:
    """Whether a trainer's EventStorage is active: a model records training scalars only then,
    so the same forward also runs in tests and scripts that have no storage."""
    return bool(_CURRENT_STORAGE)


class EventStorage:
    def __init__(self, start_iter: int = 0, window: int = 20):
        self.iter = start_iter
        self._window = window
        self._history = defaultdict(lambda: deque(maxlen=window))
        self._latest = {}  # name -> (value, iteration)

    def put_scalar(self, name: str, value) -> None:
        """`value`: a number, or a one-element tensor kept as it is (detached) and read back only
        when a writer asks for it, so that putting a value computed on the GPU costs no host sync."""
        value = value.detach() if torch.is_tensor(value) else float(value)
        self._history[name].append(value)
        self._latest[name] = (value, self.iter)

    def put_text(self, name: str, text: str) -> None:
        """A text value (e.g. how an evaluation was measured): written like a scalar, never
        smoothed."""
        self._latest[name] = (str(text), self.iter)

    def put_scalars(self, **kwargs) -> None:
        for k, v in kwargs.items():
            self.put_scalar(k, v)

    @property
    def window(self) -> int:
        """How many of the latest values `median` takes."""
        return self._window

    def median(self, name: str) -> float:
        return statistics.median(_as_float(value) for value in self._history[name])

    def has(self, name: str) -> bool:
        return name in self._latest

    def latest(self) -> dict:
        return {name: (_as_float(value), it) for name, (value, it) in self._latest.items()}

    def __enter__(self):
        _CURRENT_STORAGE.append(self)
        return self

    def __exit__(self, *exc):
        _CURRENT_STORAGE.pop()


def _as_float(value):
    """A stored value as a writer shows it: tensors (put without a host sync) become floats."""
    return float(value) if torch.is_tensor(value) else value


def _unwritten(written: dict):
    """Scalars whose latest value is newer than what a writer has written of them (and
    record them as written): an evaluation put after the last step's write still goes out."""
    fresh = defaultdict(dict)
    for name, (value, it) in get_event_storage().latest().items():
        if it > written.get(name, -1):
            fresh[it][name] = value
            written[name] = it
    return fresh


class JSONWriter:
    """Append every scalar put since the last write to `path` as one JSON line per iteration,
    fsynced (a resume trusts the rows before its checkpoint to be on disk)."""

    def __init__(self, path: str):
        self.path = path
        self._written = {}
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)

    def write(self):
        by_iter = _unwritten(self._written)
        if not by_iter:
            return
        text = "".join(json.dumps({"iteration": it, **by_iter[it]}, sort_keys=True) + "\n" for it in sorted(by_iter))
        with open(self.path, "a") as f:
            # in two parts around the crash tests' kill point, which leaves a torn last line as a crash can
            f.write(text[: len(text) // 2])
            f.flush()
            kill_point(f"append:{os.path.basename(self.path)}")
            f.write(text[len(text) // 2:])
            f.flush()
            os.fsync(f.fileno())

    def close(self):
        pass


def read_metrics(path: str) -> List[Dict[str, float]]:
    """The rows of a metrics.json (one JSON object per line, as partreid's JSONWriter writes)."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{path} does not exist (expected OUTPUT_DIR/metrics.json of a training run)")
    rows = []
    with open(path) as f:
        for number, line in enumerate(f, start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                # the last line of a killed run may be cut short: keep everything before it
                if not f.read().strip():
                    break
                raise ValueError(f"{path}, line {number}: not a JSON object ({e})") from e
            if not isinstance(row, dict) or "iteration" not in row:
                raise ValueError(f"{path}, line {number}: expected an object with an 'iteration' key")
            rows.append(row)
    if not rows:
        raise ValueError(f"{path} holds no metrics rows")
    return rows



class TensorboardWriter:
    def __init__(self, log_dir: str):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError as e:
            raise missing_extra("tensorboard", "tensorboard", "TensorboardWriter") from e

        self._writer = SummaryWriter(log_dir)
        self._written = {}

    def write(self):
        for it, scalars in _unwritten(self._written).items():
            for name, value in scalars.items():
                if isinstance(value, str):
                    self._writer.add_text(name, value, it)
                else:
                    self._writer.add_scalar(name, value, it)

    def close(self):
        self._writer.close()


class ConsoleWriter:
    """One line per period: epoch, iteration (iterations done, of the total), ETA, losses,
    time per iteration (medians of the last `window` iterations, as the first line says), LR."""

    def __init__(self, max_iter: int, iters_per_epoch: int):
        self.logger = logging.getLogger("partreid.train")
        self.max_iter = max_iter
        self.iters_per_epoch = iters_per_epoch
        self._last_printed = -1

    def write(self):
        storage = get_event_storage()
        it = storage.iter
        if not storage.has("total_loss") or it == self._last_printed:
            return
        if self._last_printed < 0:
            self.logger.info(f"Losses and times below are medians of the last {storage.window} iterations; "
                             "lr and metrics.json hold each iteration's own value")
        self._last_printed = it
        parts = []
        eta = ""
        if storage.has("time"):
            t = storage.median("time")
            eta = f"eta: {datetime.timedelta(seconds=int(t * (self.max_iter - it)))}  "
            parts.append(f"time: {t:.3f}s/it")
            if storage.has("data_time"):
                parts.append(f"data: {storage.median('data_time'):.3f}s")
        losses = "  ".join(
            f"{k}: {storage.median(k):.4g}" for k in sorted(storage.latest()) if k.startswith("loss") or k == "total_loss"
        )
        lr = f"lr: {storage.latest()['lr'][0]:.3g}" if storage.has("lr") else ""
        epoch = (it - 1) // self.iters_per_epoch
        self.logger.info(
            f"{eta}epoch: {epoch} iter: {it}/{self.max_iter}  {losses}  {'  '.join(parts)}  {lr}"
        )

    def close(self):
        pass


def tensorboard_available() -> bool:
    try:
        import tensorboard  # noqa: F401

        return True
    except ImportError:
        return False


def default_writers(output_dir: str, max_iter: int, iters_per_epoch: int):
    writers = [ConsoleWriter(max_iter, iters_per_epoch), JSONWriter(os.path.join(output_dir, "metrics.json"))]
    if tensorboard_available():
        writers.append(TensorboardWriter(output_dir))
    else:
        logging.getLogger(__name__).info("TensorBoard is not installed: scalars go to metrics.json only.")
    return writers
