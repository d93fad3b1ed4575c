"""One run per OUTPUT_DIR, and a config.yaml that stays the record of the training.

A process that writes into OUTPUT_DIR (training, or `--eval-only`, whose log.txt and
eval_results.json go there too) holds an exclusive lock on OUTPUT_DIR/.run.lock for its whole
life; the file names the holder (pid, host, start time, command). The lock is portalocker's
flock, which the kernel drops when the process dies, so a run killed with SIGKILL leaves a
free lock: the next run takes it and warns that the previous holder never released it. A lock
still held while the process it names is gone from this host (a data-loader worker forked
with the lock's file descriptor outlived it) is taken over too, by replacing the lock file.
In a distributed job only rank 0 locks.
"""
import atexit
import datetime
import glob
import json
import os
import socket
import sys

import portalocker
import yaml

from ..checkpoint.checkpointer import fsync_directory, temporary_path

LOCK_FILE = ".run.lock"

# Config keys a resume may change without changing what is trained: where the run and its data
# are, how many loader processes read the data (the batches do not depend on it), how often
# the log is written, and how an evaluation is measured. Everything else changes the training
# (TEST.PRECISE_BN re-estimates the checkpointed BatchNorm statistics, TEST.EVAL_PERIOD says
# when, TEST.BEST_METRIC picks model_best.pth) and a resume refuses it.
RESUME_MAY_CHANGE = ("OUTPUT_DIR", "DATASETS.ROOT", "DATALOADER.NUM_WORKERS", "SOLVER.LOG_PERIOD", "TEST.")
RESUME_MAY_NOT_CHANGE = ("TEST.PRECISE_BN.", "TEST.EVAL_PERIOD", "TEST.BEST_METRIC")

_held = {}  # absolute OUTPUT_DIR -> RunFolderLock held by this process


class RunFolderError(RuntimeError):
    """OUTPUT_DIR is held by another process, holds another run, or would be rewritten."""


def _process_alive(pid) -> bool:
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except (PermissionError, TypeError, ValueError):
        return True  # another user's process, or a record that cannot be read: assume it runs
    return True


class RunFolderLock:
    """The exclusive lock on `output_dir` (see the module docstring); `acquire()` returns the
    warnings to log (a lock taken over)."""

    def __init__(self, output_dir: str):
        self.output_dir = output_dir
        self.path = os.path.join(output_dir, LOCK_FILE)
        self._file = None

    def _holder(self) -> dict:
        try:
            with open(self.path) as f:
                return json.loads(f.read() or "{}")
        except (OSError, ValueError):
            return {}

    @staticmethod
    def _me() -> dict:
        return {"pid": os.getpid(), "host": socket.gethostname(),
                "started": datetime.datetime.now().isoformat(timespec="seconds"), "command": " ".join(sys.argv)}

    def _describe(self, holder: dict) -> str:
        return (f"process {holder.get('pid', '?')} on host {holder.get('host', '?')} "
                f"(started {holder.get('started', '?')}: {holder.get('command', '?')})")

    def _open_locked(self, path: str):
        f = open(path, "a+")
        try:
            portalocker.lock(f, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
        except portalocker.exceptions.AlreadyLocked:
            f.close()
            return None
        return f

    def _write_me(self):
        self._file.seek(0)
        self._file.truncate()
        self._file.write(json.dumps(self._me()))
        self._file.flush()
        os.fsync(self._file.fileno())

    def acquire(self) -> list:
        warnings = []
        os.makedirs(self.output_dir, exist_ok=True)
        self._file = self._open_locked(self.path)
        if self._file is None:
            holder = self._holder()
            if holder.get("host") != socket.gethostname() or _process_alive(holder.get("pid")):
                raise RunFolderError(
                    f"OUTPUT_DIR {self.output_dir} is in use by {self._describe(holder)}. Wait for it to end, or "
                    f"use another OUTPUT_DIR. (The lock is {self.path}; if no such process exists, delete it.)")
            # still locked, but by an orphan of the process it names (e.g. a data-loader worker): a new
            # lock file replaces it, and the orphan keeps a lock on a file no one opens any more
            tmp = temporary_path(self.path)
            self._file = self._open_locked(tmp)
            os.replace(tmp, self.path)
            fsync_directory(self.output_dir)
            warnings.append(f"{self.path}: the lock of {self._describe(holder)}, which no longer runs, is still held "
                            "by a process it left behind; taken over")
        else:
            holder = self._holder()
            if holder:
                warnings.append(f"{self.path}: {self._describe(holder)} ended without releasing its lock "
                                "(killed?); taken over")
        self._write_me()
        return warnings

    def release(self):
        """Empty the lock file (a clean end) and unlock it."""
        if self._file is None:
            return
        self._file.seek(0)
        self._file.truncate()
        self._file.flush()
        portalocker.unlock(self._file)
        self._file.close()
        self._file = None


def lock_run_folder(output_dir: str) -> list:
    """Hold the lock on `output_dir` until `release_run_folder` or the end of the process
    (taking it again in the same process is a no-op); the warnings to log."""
    key = os.path.abspath(output_dir)
    if key in _held:
        return []
    lock = RunFolderLock(output_dir)
    warnings = lock.acquire()
    _held[key] = lock
    return warnings


def release_run_folder(output_dir: str) -> None:
    lock = _held.pop(os.path.abspath(output_dir), None)
    if lock is not None:
        lock.release()


@atexit.register
def _release_all():
    for output_dir in list(_held):
        release_run_folder(output_dir)


def checkpoint_files(output_dir: str) -> list:
    """The files of a run's checkpoints in `output_dir` (model_*.pth and last_checkpoint)."""
    found = glob.glob(os.path.join(glob.escape(output_dir), "model_*.pth"))
    found += [p for p in [os.path.join(output_dir, "last_checkpoint")] if os.path.isfile(p)]
    return sorted(found)


def prepare_fresh_run(output_dir: str, overwrite: bool) -> list:
    """A run that starts from scratch (no --resume) in `output_dir`: refused when the folder holds
    another run's checkpoints, unless `overwrite`, which deletes them. The messages to log."""
    existing = checkpoint_files(output_dir)
    if not existing:
        return []
    names = ", ".join(os.path.basename(p) for p in existing)
    if not overwrite:
        raise RunFolderError(
            f"OUTPUT_DIR {output_dir} holds the checkpoints of an earlier run ({names}). Continue it with --resume, "
            "choose another OUTPUT_DIR, or pass --overwrite to delete them and start again.")
    for path in existing:
        os.remove(path)
    fsync_directory(output_dir)
    return [f"--overwrite: deleted the earlier run's checkpoints in {output_dir}: {names} (its metrics.json and "
            "evaluations.json are kept under a dated name, log.txt is appended to)"]


def _flatten(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def config_changes(saved_yaml: str, cfg) -> dict:
    """{key: (value in config.yaml, value in `cfg`)} for every key of config.yaml that differs
    (a key config.yaml lacks came with a later version of the code and is not compared)."""
    saved = dict(_flatten(yaml.safe_load(saved_yaml) or {}))
    now = dict(_flatten(yaml.safe_load(cfg.dump())))
    return {k: (v, now.get(k)) for k, v in sorted(saved.items()) if now.get(k) != v}


def changes_training(key: str) -> bool:
    return key.startswith(RESUME_MAY_NOT_CHANGE) or not key.startswith(RESUME_MAY_CHANGE)
