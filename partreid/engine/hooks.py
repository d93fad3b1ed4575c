"""Hooks of the default trainer: timing, LR schedule, checkpoints, evaluation, writers."""
import logging
import os
import re
import time

from fvcore.common.checkpoint import PeriodicCheckpointer as _FvPeriodicCheckpointer

from ..evaluation.part_discovery import PART_DISCOVERY_GROUP, format_part_discovery_table
from ..utils import comm
from .train_loop import HookBase

logger = logging.getLogger(__name__)


class IterationTimer(HookBase):
    """Puts the wall time of every step into the storage as "time" (the console ETA uses it)."""

    def before_train(self):
        self._train_start = time.perf_counter()

    def before_step(self):
        self._step_start = time.perf_counter()

    def after_step(self):
        self.trainer.storage.put_scalar("time", time.perf_counter() - self._step_start)

    def after_train(self):
        steps = self.trainer.iter - self.trainer.start_iter
        total = time.perf_counter() - self._train_start
        if steps > 0:
            logger.info(f"Trained {steps} iterations in {total:.1f}s ({total / steps:.3f} s/it).")


class LRScheduler(HookBase):
    """Records the LR used by this step, then advances the per-iteration schedule."""

    def __init__(self, optimizer, scheduler):
        self.optimizer = optimizer
        self.scheduler = scheduler

    def after_step(self):
        self.trainer.storage.put_scalar("lr", self.optimizer.param_groups[-1]["lr"])
        self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state)


class PeriodicCheckpointer(HookBase):
    """Saves model_XXXXXXX.pth every `period` iterations (keeping the newest `max_to_keep`)
    and model_final.pth at the end; every file goes through the atomic checkpointer."""

    def __init__(self, checkpointer, period: int, max_iter: int, max_to_keep: int):
        self._inner = _FvPeriodicCheckpointer(checkpointer, period, max_iter=max_iter, max_to_keep=max_to_keep)

    def before_train(self):
        # fvcore remembers only the files saved by this process: after a resume, adopt the
        # periodic checkpoints already on disk (oldest first) so that keep-N still holds
        pattern = re.compile(rf"{re.escape(self._inner.file_prefix)}_\d{{7}}\.pth$")
        save_dir = self._inner.checkpointer.save_dir
        if save_dir and os.path.isdir(save_dir):
            existing = sorted(f for f in os.listdir(save_dir) if pattern.match(f))
            self._inner.recent_checkpoints = [os.path.join(save_dir, f) for f in existing]

    def after_step(self):
        if comm.is_main_process():
            self._inner.step(self.trainer.iter)


class EvalHook(HookBase):
    """Runs `eval_function()` every `period` iterations and after the last one, and puts
    the flattened results into the storage as eval/<group>/<metric> (text values as text)."""

    def __init__(self, period: int, eval_function, flatten):
        self.period = period
        self._func = eval_function
        self._flatten = flatten
        self.last_results = None
        self.last_iter = -1

    def _do_eval(self):
        results = self._func()
        comm.synchronize()
        if results:
            self.last_results = results
            self.last_iter = self.trainer.iter
            storage = self.trainer.storage
            for key, value in self._flatten(results).items():
                (storage.put_text if isinstance(value, str) else storage.put_scalar)(f"eval/{key}", value)

    def after_step(self):
        next_iter = self.trainer.iter + 1
        if self.period > 0 and next_iter % self.period == 0 and next_iter != self.trainer.max_iter:
            self._do_eval()

    def after_train(self):
        # only when training reached its end (not after a crash)
        if self.trainer.iter >= self.trainer.max_iter:
            self.trainer.iter = self.trainer.max_iter - 1
            self.trainer.storage.iter = self.trainer.iter
            self._do_eval()
            self.trainer.iter = self.trainer.max_iter


class BestCheckpointer(HookBase):
    """Keeps model_best.pth for the best value of `metric` in the primary evaluation group."""

    def __init__(self, eval_hook: EvalHook, checkpointer, metric: str, mode: str = "max"):
        self.eval_hook = eval_hook
        self.checkpointer = checkpointer
        self.metric = metric
        self.sign = 1 if mode == "max" else -1
        self.best_value = None
        self.best_iter = -1
        self._seen_iter = -1

    def _maybe_save(self):
        hook = self.eval_hook
        if hook.last_results is None or hook.last_iter == self._seen_iter:
            return
        self._seen_iter = hook.last_iter
        group, metrics = next(iter(hook.last_results.items()))
        if self.metric not in metrics:
            raise KeyError(
                f"TEST.BEST_METRIC={self.metric!r} is not reported by the evaluator (group '{group}' has "
                f"{sorted(metrics)})."
            )
        value = metrics[self.metric]
        if self.best_value is None or self.sign * (value - self.best_value) > 0:
            logger.info(
                f"New best {group}/{self.metric} = {value:.2f} at iteration {hook.last_iter + 1} "
                f"(previous: {self.best_value if self.best_value is None else f'{self.best_value:.2f}'}); "
                "saving model_best.pth"
            )
            self.best_value, self.best_iter = value, hook.last_iter
            if comm.is_main_process():
                self.checkpointer.save("model_best", tag_last=False, iteration=hook.last_iter, best_metric=f"{group}/{self.metric}",
                                       best_value=value)

    def after_step(self):
        self._maybe_save()

    def after_train(self):
        self._maybe_save()

    def state_dict(self):
        return {"best_value": self.best_value, "best_iter": self.best_iter}

    def load_state_dict(self, state):
        self.best_value, self.best_iter = state["best_value"], state["best_iter"]


class PeriodicWriter(HookBase):
    def __init__(self, writers, period: int):
        self.writers = writers
        self.period = period

    def after_step(self):
        if (self.trainer.iter + 1) % self.period == 0 or self.trainer.iter == self.trainer.max_iter - 1:
            for w in self.writers:
                w.write()

    def after_train(self):
        for w in self.writers:
            w.write()
            w.close()


class RunSummary(HookBase):
    """Logs one table when training stops: final metrics of the primary group, the best
    TEST.BEST_METRIC and its iteration, wall time, training throughput and the files the run
    left in OUTPUT_DIR, so the end of log.txt answers "how did it go" at a glance; then the
    part-discovery table of the last evaluation, when it has one."""

    def __init__(self, eval_hook: EvalHook, best: BestCheckpointer, images_per_iter: int, output_dir: str):
        self.eval_hook = eval_hook
        self.best = best
        self.images_per_iter = images_per_iter
        self.output_dir = output_dir

    def before_train(self):
        self._start = time.perf_counter()

    def after_train(self):
        if not comm.is_main_process():
            return
        from tabulate import tabulate

        trainer = self.trainer
        wall = time.perf_counter() - self._start
        steps = max(trainer.iter - trainer.start_iter, 0)
        finished = trainer.iter >= trainer.max_iter
        rows = [("status", "finished" if finished else f"stopped after iteration {trainer.iter} of {trainer.max_iter}"),
                ("iterations run", f"{trainer.start_iter} -> {trainer.iter} ({steps} this session)"),
                ("wall time", f"{wall:.1f} s"),
                ("throughput", f"{steps * self.images_per_iter / wall:.1f} images/s" if wall > 0 else "n/a")]
        results = self.eval_hook.last_results
        if results:
            group, metrics = next(iter(results.items()))
            shown = "  ".join(f"{k} {v}" if isinstance(v, str) else f"{k} {v:.2f}"
                              for k, v in metrics.items() if not k.endswith("_std"))
            rows.append((f"final {group}", f"{shown} (iteration {self.eval_hook.last_iter + 1})"))
        if self.best.best_value is not None:
            rows.append((f"best {self.best.metric}", f"{self.best.best_value:.2f} at iteration {self.best.best_iter + 1}"))
        if os.path.isdir(self.output_dir):
            files = sorted(f for f in os.listdir(self.output_dir) if not f.startswith("."))
            rows.append(("output files", f"{self.output_dir}: {', '.join(files)}"))
        logger.info("Run summary:\n" + tabulate(rows, tablefmt="simple"))
        if results and PART_DISCOVERY_GROUP in results:
            logger.info(f"Part discovery at iteration {self.eval_hook.last_iter + 1}:\n"
                        + format_part_discovery_table(results[PART_DISCOVERY_GROUP]))
