"""Checkpoints that survive a crash: every file is written to a temporary name and
moved into place with os.replace, so a reader sees either the old file or the new one,
never a half-written one (fvcore's own save and `last_checkpoint` tag are not atomic).
The file gets the mode the umask gives a newly created file (0644 under umask 022; mkstemp
alone makes it 0600), and the directory is fsynced after the rename, so the rename itself
survives a power cut."""
import glob
import logging
import os
import tempfile
import threading

import torch
from fvcore.common.checkpoint import Checkpointer
from iopath.common.file_io import PathManager as _PathManagerCls

from ..utils.errors import CheckpointError, ConfigError, naming_the_file
from ..utils.faults import kill_point
from .loading import UnreadableCheckpointError, check_state_dict_fits, load_checkpoint_file

PathManager = _PathManagerCls()

logger = logging.getLogger(__name__)

_umask_lock = threading.Lock()


def new_file_mode() -> int:
    """The mode open() gives a new file under the current umask (0o644 under 022)."""
    with _umask_lock:  # the umask can only be read by setting it
        umask = os.umask(0o022)
        os.umask(umask)
    return 0o666 & ~umask


def fsync_directory(directory: str) -> None:
    """Make a rename or removal in `directory` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def temporary_path(path: str) -> str:
    """A new, empty temporary file beside `path` (named `.<name>.<random>.tmp`, which
    `remove_stale_temporaries` recognises), with the umask's mode."""
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix="." + os.path.basename(path) + ".", suffix=".tmp", dir=directory)
    os.fchmod(fd, new_file_mode())
    os.close(fd)
    return tmp


def replace_durably(tmp: str, path: str) -> None:
    """Rename the complete temporary file `tmp` over `path` and fsync the directory."""
    kill_point(f"write:{os.path.basename(path)}")
    os.replace(tmp, path)
    fsync_directory(os.path.dirname(os.path.abspath(path)))


def atomic_write_bytes(path: str, write_fn) -> None:
    """Call write_fn(file) on a temporary file beside `path`, fsync it, then rename it
    over `path` (replace_durably). On any error the temporary file is removed and `path` is
    untouched. A full disk is raised as OSError(ENOSPC) naming `path`, whichever layer met it."""
    with naming_the_file(path):
        tmp = temporary_path(path)
        try:
            with open(tmp, "wb") as f:
                write_fn(f)
                f.flush()
                os.fsync(f.fileno())
            replace_durably(tmp, path)
        except BaseException:
            if os.path.exists(tmp):
                os.remove(tmp)
            raise


def remove_stale_temporaries(directory: str) -> list:
    """Delete the temporary files of atomic writes that a killed process left in `directory`
    (only safe while no other process writes there: the run folder's lock); their paths."""
    stale = sorted(glob.glob(os.path.join(glob.escape(directory), ".*.tmp")))
    for path in stale:
        os.remove(path)
    return stale


class ReidCheckpointer(Checkpointer):
    """fvcore Checkpointer with atomic writes, rank-0-only saving and strict loads that run no code.

    `may_skip`: regular expressions (re.match) of tensor names that a loaded checkpoint may lack,
    hold in excess or hold with another shape, e.g. ["classifier\\."] to fine-tune on other
    identities (MODEL.WEIGHTS_MAY_SKIP); every other difference is an error listing the tensors."""

    def __init__(self, model, save_dir="", *, save_to_disk=True, may_skip=(), **checkpointables):
        super().__init__(model, save_dir, save_to_disk=save_to_disk, **checkpointables)
        self.path_manager = PathManager
        self.may_skip = list(may_skip)
        self._loading = ""

    def save(self, name: str, *, tag_last: bool = True, **kwargs) -> None:
        """Write `name`.pth atomically; `tag_last=False` keeps `last_checkpoint` pointing at
        the resumable checkpoint (used for model_best.pth, which is not where a resume starts)."""
        if not self.save_dir or not self.save_to_disk:
            return
        data = {"model": self.model.state_dict()}
        for key, obj in self.checkpointables.items():
            data[key] = obj.state_dict()
        data.update(kwargs)
        basename = f"{name}.pth"
        save_file = os.path.join(self.save_dir, basename)
        self.logger.info(f"Saving checkpoint to {save_file}")
        atomic_write_bytes(save_file, lambda f: torch.save(data, f))
        if tag_last:
            self.tag_last_checkpoint(basename)

    def tag_last_checkpoint(self, last_filename_basename: str) -> None:
        path = os.path.join(self.save_dir, "last_checkpoint")
        atomic_write_bytes(path, lambda f: f.write(last_filename_basename.encode()))

    def _load_file(self, f: str):
        """The checkpoint as a dict with a "model" entry, read without running code (see loading.py)."""
        try:
            checkpoint = load_checkpoint_file(f)
        except UnreadableCheckpointError as e:
            others = sorted(p for p in self.get_all_checkpoint_files() if os.path.abspath(p) != os.path.abspath(f))
            hint = f" Other checkpoints in {self.save_dir}: {', '.join(others)}" if others else ""
            raise UnreadableCheckpointError(
                f"{e} Load another one with MODEL.WEIGHTS, or fix "
                f"{os.path.join(self.save_dir, 'last_checkpoint')}.{hint}"
            ) from e
        if not isinstance(checkpoint, dict) or "model" not in checkpoint:
            # a bare state dict (e.g. exported weights)
            checkpoint = {"model": checkpoint}
        return checkpoint

    def _load_model(self, checkpoint):
        """fvcore's load of the model's tensors, after checking that they all fit (see may_skip)."""
        check_state_dict_fits(self.model, checkpoint["model"], self._loading, self.may_skip)
        return super()._load_model(checkpoint)

    def load(self, path: str, checkpointables=None):
        """fvcore's load, strict (see __init__'s may_skip); a checkpointed optimizer (or other
        state) that no longer fits the run, because the config changed which parameters are
        trained, gets an error that says so."""
        if path and "://" not in path and not os.path.isfile(path):  # URLs are fetched by fvcore's load
            raise FileNotFoundError(f"Checkpoint file {path} does not exist.")
        self._loading = path
        try:
            return super().load(path, checkpointables=checkpointables)
        except CheckpointError:
            raise
        except ValueError as e:
            raise ConfigError(
                f"Checkpoint {path} does not fit this run ({e}). Its optimizer state was saved for other trained "
                "parameters: since it was written, the config changed which parameters are trained or how they "
                "are grouped (e.g. SOLVER.WEIGHT_DECAY_NORM, "
                "SOLVER.BIAS_LR_FACTOR). Resume with the run's own config.yaml, or start a new OUTPUT_DIR with "
                f"MODEL.WEIGHTS {path} to load its weights alone."
            ) from e
