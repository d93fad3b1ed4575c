"""Hooks of the default trainer: timing, LR schedule, checkpoints, evaluation, writers."""
import itertools
import json
import logging
import os
import re
import shutil
import time
from collections import OrderedDict

import torch
from fvcore.nn.precise_bn import get_bn_modules, update_bn_stats

from ..checkpoint import atomic_write_bytes
from ..data.shutdown import close_loader_iterator
from ..utils.faults import kill_point
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
        steps = self.trainer.iterations_done - self.trainer.start_iter
        total = time.perf_counter() - self._train_start
        if steps > 0:
            logger.info(f"Trained {steps} iterations in {total:.1f}s ({total / steps:.3f} s/it).")


class LRScheduler(HookBase):
    """Records the LR used by this step, then advances the per-iteration schedule. The LR
    logged is that of the parameter group with the most parameters (with the default groups,
    the backbone at BASE_LR x BACKBONE_LR_FACTOR), not of whichever group happens to come last
    (a bias or norm group under the SOLVER factors)."""

    def __init__(self, optimizer, scheduler):
        self.optimizer = optimizer
        self.scheduler = scheduler
        sizes = [sum(p.numel() for p in group["params"]) for group in optimizer.param_groups]
        self._logged_group = max(range(len(sizes)), key=sizes.__getitem__)

    def after_step(self):
        self.trainer.storage.put_scalar("lr", self.optimizer.param_groups[self._logged_group]["lr"])
        self.scheduler.step()

    def state_dict(self):
        return self.scheduler.state_dict()

    def load_state_dict(self, state):
        self.scheduler.load_state_dict(state)


class PeriodicCheckpointer(HookBase):
    """Saves `{prefix}_XXXXXXX.pth` after every `period` iterations (named by the iterations
    done: model_0000020.pth after 20), keeping the newest `max_to_keep` of them (0 keeps all),
    and `{prefix}_final.pth` after the last one. Each file holds the model, every
    checkpointable (optimizer, trainer and hook states) and "iteration" (iterations done); every
    write goes through the atomic checkpointer. It runs before the evaluation of the same
    iteration, so a crash during an evaluation loses no training. A run resumed after its last
    iteration (killed while `{prefix}_final.pth` was written) gets that file then."""

    def __init__(self, checkpointer, period: int, max_iter: int, max_to_keep: int = 0, file_prefix: str = "model"):
        if period < 1:
            raise ValueError(f"checkpoint period must be >= 1 iteration, got {period}")
        self.checkpointer = checkpointer
        self.period = period
        self.max_iter = max_iter
        self.max_to_keep = max_to_keep
        self.file_prefix = file_prefix
        self.recent = []

    def before_train(self):
        # after a resume, the periodic checkpoints already on disk count towards keep-N (oldest first)
        pattern = re.compile(rf"{re.escape(self.file_prefix)}_\d{{7}}\.pth$")
        save_dir = self.checkpointer.save_dir
        if save_dir and os.path.isdir(save_dir):
            self.recent = [os.path.join(save_dir, f) for f in sorted(os.listdir(save_dir)) if pattern.match(f)]
        if comm.is_main_process() and self.trainer.start_iter >= self.max_iter:
            self._finish_final_checkpoint()

    def _finish_final_checkpoint(self):
        """The run resumed from its checkpoint after the last iteration: the process died while
        writing `{prefix}_final.pth`, or before tagging it as last_checkpoint. That checkpoint
        was saved from the same state as the final one, so the final one is its copy."""
        final = f"{self.file_prefix}_final.pth"
        resumed_from = self.checkpointer.get_checkpoint_file()
        if not self.checkpointer.save_dir or os.path.basename(resumed_from) == final:
            return
        path = os.path.join(self.checkpointer.save_dir, final)
        if not os.path.isfile(path):
            logger.info(f"{final} is missing (the run stopped while writing it): writing it from {resumed_from}")
            with open(resumed_from, "rb") as source:
                atomic_write_bytes(path, lambda f: shutil.copyfileobj(source, f))
        self.checkpointer.tag_last_checkpoint(final)

    def after_step(self):
        if not comm.is_main_process():
            return
        done = self.trainer.iter + 1
        if done % self.period == 0:
            name = f"{self.file_prefix}_{done:07d}"
            self.checkpointer.save(name, iteration=done)
            path = os.path.join(self.checkpointer.save_dir, f"{name}.pth")
            self.recent = [p for p in self.recent if p != path] + [path]
            while self.max_to_keep > 0 and len(self.recent) > self.max_to_keep:
                oldest = self.recent.pop(0)
                if os.path.exists(oldest):
                    os.remove(oldest)
        if done >= self.max_iter:
            self.checkpointer.save(f"{self.file_prefix}_final", iteration=done)


def is_evaluation_step(done: int, period: int, max_iter: int) -> bool:
    """Whether the trainer evaluates after iteration `done` (when `done` iterations are
    complete): every `period` iterations (0: never) and always after the last one."""
    return done == max_iter or (period > 0 and done % period == 0)


class EvalHook(HookBase):
    """Runs `eval_function()` every `period` iterations and after the last one, and puts
    the flattened results into the storage as eval/<group>/<metric> (text values as text),
    at the iteration evaluated (iterations done).

    After an evaluation, the callables in `before_record` run (the best checkpoint is saved,
    the metrics writers write the evaluation's row), and only then is the evaluation appended
    to `history` and, when `history_path` is given, to that JSON file (written atomically): it
    is the record a resumed run reads. So whatever an evaluation leaves is on disk before it
    counts as done; a run resumed from a checkpoint whose iteration was due an evaluation that
    is not recorded (the process died during it or before recording it) runs it first."""

    def __init__(self, period: int, eval_function, flatten, history_path: str = "", before_record=()):
        self.period = period
        self._func = eval_function
        self._flatten = flatten
        self.history_path = history_path
        self.before_record = list(before_record)
        self.history = []  # [{"iteration": iterations done, "results": {group: {metric: value}}}], oldest first
        self.last_results = None
        self.last_iter = 0  # the iteration of the latest evaluation (0: none yet)

    def _do_eval(self, done: int):
        results = self._func()
        comm.synchronize()
        if not results:
            return
        self.last_results, self.last_iter = results, done
        storage = self.trainer.storage
        for key, value in self._flatten(results).items():
            (storage.put_text if isinstance(value, str) else storage.put_scalar)(f"eval/{key}", value)
        for record in self.before_record:
            record()
        self.history.append({"iteration": done, "results": results})
        if self.history_path and comm.is_main_process():
            atomic_write_bytes(self.history_path,
                               lambda f: f.write(json.dumps(self.history, indent=1, default=float).encode()))
        kill_point("after:evaluation")

    def _recorded_history(self, upto: int) -> list:
        """The evaluations of iterations <= `upto` in history_path (rank 0's copy, shared)."""
        history = []
        if comm.is_main_process() and self.history_path and os.path.exists(self.history_path):
            with open(self.history_path) as f:
                history = [e for e in json.load(f) if e["iteration"] <= upto]
        return comm.all_gather(history)[0]

    def before_train(self):
        done = self.trainer.start_iter
        self.history = self._recorded_history(upto=done)
        if self.history:
            self.last_iter = self.history[-1]["iteration"]
            self.last_results = OrderedDict(self.history[-1]["results"])
        if done > 0 and is_evaluation_step(done, self.period, self.trainer.max_iter) and self.last_iter != done:
            logger.info(f"The evaluation after iteration {done} is not recorded (the run stopped before it was); "
                        "running it now")
            # as in the uninterrupted run, after step done - 1: the trainer state model_best.pth saves says so
            self.trainer.iter = done - 1
            try:
                self._do_eval(done)
            finally:
                self.trainer.iter = done

    def after_step(self):
        # after the periodic checkpoint of the same iteration (the hook order guarantees it)
        done = self.trainer.iter + 1
        if is_evaluation_step(done, self.period, self.trainer.max_iter):
            self._do_eval(done)


class BestCheckpointer(HookBase):
    """Keeps model_best.pth for the best value of `metric` in the primary evaluation group.
    It saves from the evaluation hook (`eval_hook.before_record`), before the evaluation is
    recorded as done: a run killed before the record evaluates again on resume and saves
    again, so model_best.pth always holds the best evaluation of evaluations.json. On resume
    its record comes from the evaluation hook's history (the checkpoint is written before the
    evaluation of its iteration, so the state stored in it may miss that one)."""

    def __init__(self, eval_hook: EvalHook, checkpointer, metric: str, mode: str = "max"):
        self.eval_hook = eval_hook
        self.checkpointer = checkpointer
        self.metric = metric
        self.sign = 1 if mode == "max" else -1
        self.best_value = None
        self.best_iter = 0
        self._seen_iter = 0
        self._read_history = False
        eval_hook.before_record.append(self._maybe_save)

    def _value(self, results, iteration: int):
        group, metrics = next(iter(results.items()))
        if self.metric not in metrics:
            raise KeyError(
                f"TEST.BEST_METRIC={self.metric!r} is not reported by the evaluator (group '{group}' has "
                f"{sorted(metrics)}), evaluation after iteration {iteration}."
            )
        return group, metrics[self.metric]

    def _is_better(self, value) -> bool:
        return self.best_value is None or self.sign * (value - self.best_value) > 0

    def _read_recorded_history(self):
        """Once, before the first evaluation of this process: the best of the evaluations
        already recorded (a resumed run's evaluations.json, which the evaluation hook has read)."""
        if self._read_history:
            return
        self._read_history = True
        recorded = self.eval_hook.history
        if recorded:
            self.best_value, self.best_iter = None, 0
            for entry in recorded:
                _, value = self._value(entry["results"], entry["iteration"])
                if self._is_better(value):
                    self.best_value, self.best_iter = value, entry["iteration"]
            self._seen_iter = recorded[-1]["iteration"]

    def before_train(self):
        self._read_recorded_history()
        if comm.is_main_process() and self.best_iter > 0 and self.checkpointer.save_dir:
            self._check_best_file()

    def _check_best_file(self):
        """model_best.pth must hold the best recorded evaluation. Where it is missing or holds
        another iteration (a folder written by an older version, or edited by hand), it is rebuilt
        from the checkpoint of that iteration if it is still on disk, else a warning says so."""
        save_dir = self.checkpointer.save_dir
        path = os.path.join(save_dir, "model_best.pth")
        if os.path.isfile(path):
            try:
                stored = torch.load(path, map_location="cpu", weights_only=True).get("iteration")
            except Exception:  # unreadable: rebuilt like a missing one
                stored = None
            if stored == self.best_iter:
                return
        names = [f"model_{self.best_iter:07d}.pth"] + (["model_final.pth"] if self.best_iter == self.trainer.max_iter else [])
        source = next((os.path.join(save_dir, n) for n in names if os.path.isfile(os.path.join(save_dir, n))), None)
        if source is None:
            logger.warning(f"{path} does not hold the best evaluation of {self.eval_hook.history_path} (iteration "
                           f"{self.best_iter}), and no checkpoint of that iteration is left to rebuild it from")
            return
        entry = next(e for e in self.eval_hook.history if e["iteration"] == self.best_iter)
        group, value = self._value(entry["results"], self.best_iter)
        data = torch.load(source, map_location="cpu", weights_only=True)
        data.update(iteration=self.best_iter, best_metric=f"{group}/{self.metric}", best_value=value)
        logger.warning(f"{path} is missing or stale: rebuilt from {source} (the best evaluation, iteration "
                       f"{self.best_iter})")
        atomic_write_bytes(path, lambda f: torch.save(data, f))

    def _maybe_save(self):
        self._read_recorded_history()
        hook = self.eval_hook
        if hook.last_results is None or hook.last_iter == self._seen_iter:
            return
        self._seen_iter = hook.last_iter
        group, value = self._value(hook.last_results, hook.last_iter)
        if self._is_better(value):
            logger.info(
                f"New best {group}/{self.metric} = {value:.2f} at iteration {hook.last_iter} "
                f"(previous: {self.best_value if self.best_value is None else f'{self.best_value:.2f}'}); "
                "saving model_best.pth"
            )
            self.best_value, self.best_iter = value, hook.last_iter
            if comm.is_main_process():
                self.checkpointer.save("model_best", tag_last=False, iteration=hook.last_iter,
                                       best_metric=f"{group}/{self.metric}", best_value=value)

    def state_dict(self):
        return {"best_value": self.best_value, "best_iter": self.best_iter}

    def load_state_dict(self, state):
        self.best_value, self.best_iter = state["best_value"], state["best_iter"]


class PreciseBN(HookBase):
    """Re-estimates the BatchNorm running statistics on `num_iter` training batches before
    every evaluation (fvcore's update_bn_stats: true averages instead of the momentum's
    exponential ones), so that evaluation uses statistics of the final weights. It runs
    before the periodic checkpoint, so the checkpoint holds the statistics its evaluation used.

    `embed(batch)` is the forward whose BN layers are re-estimated: no losses, no mixing and
    no side effects (the default trainer passes the model's `embed`)."""

    def __init__(self, period: int, model, embed, data_loader_fn, num_iter: int):
        if num_iter < 1:
            raise ValueError(f"TEST.PRECISE_BN.NUM_ITER={num_iter}: expected at least 1 batch")
        self.period = period
        self.model = model
        self._embed = embed
        self._data_loader_fn = data_loader_fn
        self.num_iter = num_iter

    def after_step(self):
        if is_evaluation_step(self.trainer.iter + 1, self.period, self.trainer.max_iter):
            self.update_stats()

    def update_stats(self):
        if not get_bn_modules(self.model):
            return
        start = time.perf_counter()
        batches = iter(self._data_loader_fn(self.trainer.iter + 1))  # the batches of the coming iterations
        try:
            update_bn_stats(_BatchForward(self.model, self._embed), itertools.islice(batches, self.num_iter),
                            self.num_iter)
        finally:
            close_loader_iterator(batches)  # an endless loader: its workers stop only when told
        logger.info(f"Precise BN: statistics of {len(get_bn_modules(self.model))} BatchNorm layers re-estimated on "
                    f"{self.num_iter} batches in {time.perf_counter() - start:.1f}s")


class _BatchForward(torch.nn.Module):
    """The module update_bn_stats drives: `embed(batch)` over `model`'s BN layers, in train mode."""

    def __init__(self, model, embed):
        super().__init__()
        self.model = model
        self._embed = embed

    def forward(self, batch):
        return self._embed(batch)


class PeriodicWriter(HookBase):
    """Writes every `period` iterations, after the last one, and after every iteration
    `also_at(done)` names: the default trainer names those with a checkpoint or an evaluation,
    so that everything logged up to a checkpoint is on disk before it (a resume does not repeat
    those iterations). `write()` writes what is new at once (an evaluation's row)."""

    def __init__(self, writers, period: int, also_at=lambda done: False):
        self.writers = writers
        self.period = period
        self.also_at = also_at

    def write(self):
        for w in self.writers:
            w.write()

    def after_step(self):
        done = self.trainer.iter + 1
        if done % self.period == 0 or done == self.trainer.max_iter or self.also_at(done):
            self.write()

    def after_train(self):
        for w in self.writers:
            w.write()
            w.close()


class RunSummary(HookBase):
    """Logs one table when training stops: final metrics of the primary group, the best
    TEST.BEST_METRIC and its iteration, wall time, training throughput and the files the run
    left in OUTPUT_DIR, so the end of log.txt answers "how did it go" at a glance; then the
    part-discovery table of the last evaluation, when it has one.

    `expected` ([metric, mean, std] entries, TEST.EXPECTED.RESULTS) are the results the config
    is known to reach, measured as `measured_on` says: a finished run whose final value lies
    more than `tolerance_std` standard deviations away is flagged in the summary and warned
    about, since single runs differ across seeds and CPUs but not by that much."""

    def __init__(self, eval_hook: EvalHook, best: BestCheckpointer, images_per_iter: int, output_dir: str,
                 flatten=None, expected=(), measured_on: str = "", tolerance_std: float = 3.0):
        self.eval_hook = eval_hook
        self.best = best
        self.images_per_iter = images_per_iter
        self.output_dir = output_dir
        self._flatten = flatten
        self.expected = [tuple(entry) for entry in expected]
        self.measured_on = measured_on
        self.tolerance_std = tolerance_std

    def compare_with_expected(self, results) -> list:
        """(summary rows, warnings) comparing the final results with `expected`."""
        if not self.expected or not results or self._flatten is None:
            return [], []
        flat = self._flatten(results)
        rows, warnings = [], []
        where = f" ({self.measured_on})" if self.measured_on else ""
        for metric, mean, std in self.expected:
            if metric not in flat or isinstance(flat[metric], str):
                warnings.append(f"TEST.EXPECTED.RESULTS names {metric!r}, which the evaluation does not report; "
                                f"it reports {', '.join(k for k, v in flat.items() if not isinstance(v, str))}")
                continue
            value = flat[metric]
            distance = abs(value - mean) / std if std > 0 else (0.0 if value == mean else float("inf"))
            verdict = "within" if distance <= self.tolerance_std else f"OUTSIDE ({distance:.1f} std away)"
            rows.append((f"expected {metric}", f"{mean:.2f} ± {std:.2f}{where}: {value:.2f} is {verdict}"))
            if distance > self.tolerance_std:
                warnings.append(
                    f"Final {metric} {value:.2f} is {distance:.1f} standard deviations from the expected {mean:.2f} "
                    f"± {std:.2f}{where}. Single runs differ across seeds and CPUs, but not this much: check the "
                    "config, the data and the install.")
        return rows, warnings

    def before_train(self):
        self._start = time.perf_counter()

    def after_train(self):
        if not comm.is_main_process():
            return
        from tabulate import tabulate

        trainer = self.trainer
        wall = time.perf_counter() - self._start
        done = trainer.iterations_done
        steps = done - trainer.start_iter
        finished = done >= trainer.max_iter
        rows = [("status", "finished" if finished else f"stopped after iteration {done} of {trainer.max_iter}"),
                ("iterations done", f"{done} of {trainer.max_iter} ({steps} this session)"),
                ("wall time", f"{wall:.1f} s"),
                ("throughput", f"{steps * self.images_per_iter / wall:.1f} images/s" if wall > 0 else "n/a")]
        results = self.eval_hook.last_results
        if results:
            group, metrics = next(iter(results.items()))
            shown = "  ".join(f"{k} {v}" if isinstance(v, str) else f"{k} {v:.2f}"
                              for k, v in metrics.items() if not k.endswith("_std"))
            rows.append((f"final {group}", f"{shown} (iteration {self.eval_hook.last_iter})"))
        if self.best.best_value is not None:
            rows.append((f"best {self.best.metric}", f"{self.best.best_value:.2f} at iteration {self.best.best_iter}"))
        expected_rows, warnings = self.compare_with_expected(results) if finished else ([], [])
        rows += expected_rows
        if os.path.isdir(self.output_dir):
            files = sorted(f for f in os.listdir(self.output_dir) if not f.startswith("."))
            rows.append(("output files", f"{self.output_dir}: {', '.join(files)}"))
        logger.info("Run summary:\n" + tabulate(rows, tablefmt="simple"))
        for warning in warnings:
            logger.warning(warning)
        if results and PART_DISCOVERY_GROUP in results:
            logger.info(f"Part discovery at iteration {self.eval_hook.last_iter}:\n"
                        + format_part_discovery_table(results[PART_DISCOVERY_GROUP]))
