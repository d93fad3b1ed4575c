"""A user's mistake ends a tool with one line `error: ...` on stderr and exit status 2; the
traceback comes back with PARTREID_TRACEBACK=1 or --traceback; a bug keeps its traceback."""
import errno
import io
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch

from partreid.checkpoint import ReidCheckpointer, checkpointer as checkpointer_module
from partreid.utils.cli import TRACEBACK_ENV, run_tool, user_error_message
from partreid.data.datasets.layout import DatasetLayoutError
from partreid.utils.errors import ConfigError, UserError
from partreid.utils.testing import REPO_ROOT, TRAIN_NET, tiny_run_folder


def _run_tool_in_process(main, argv, capsys):
    with pytest.raises(SystemExit) as stop:
        run_tool(main, argv)
    return stop.value.code, capsys.readouterr().err


def test_a_user_error_is_one_line_and_status_2(capsys, monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)

    def main(argv):
        raise ConfigError("TEST.IMS_PER_BATCH must be a whole number >= 1, got 0")

    code, err = _run_tool_in_process(main, [], capsys)
    assert code == 2
    assert err.startswith("error: TEST.IMS_PER_BATCH must be a whole number >= 1, got 0 [") and err.count("\n") == 1
    # on request, the traceback
    with pytest.raises(ConfigError):
        run_tool(main, ["--traceback"])
    monkeypatch.setenv(TRACEBACK_ENV, "1")
    with pytest.raises(ConfigError):
        run_tool(main, [])


def test_details_come_first_and_the_error_line_last(capsys, monkeypatch):
    """A dataset tree that does not match its layout: the layout is printed, then the one line."""
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)

    def main(argv):
        raise DatasetLayoutError("SYSU-MM01 root /d: no folder cam1\nExpected layout:\n  SYSU-MM01/cam1/0001/0001.jpg")

    code, err = _run_tool_in_process(main, [], capsys)
    assert code == 2
    assert err.splitlines() == ["Expected layout:", "  SYSU-MM01/cam1/0001/0001.jpg",
                                f"error: SYSU-MM01 root /d: no folder cam1 [{TRACEBACK_ENV}=1 shows the traceback]"]


def test_setup_mistakes_of_components_are_user_errors():
    from partreid.config import ArgumentError
    from partreid.modeling.losses.build import LOSS_REGISTRY
    from partreid.utils.registry import get_registered

    assert isinstance(ArgumentError("{x} must be >= 1"), UserError)
    with pytest.raises(UserError, match="No object named 'NoSuchLoss'"):
        get_registered(LOSS_REGISTRY, "NoSuchLoss", "MODEL.LOSSES.DETACH_MAPS")


def test_a_bug_keeps_its_traceback(monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)

    def main(argv):
        return [][1]

    with pytest.raises(IndexError):
        run_tool(main, [])
    assert user_error_message(ValueError("raised by a bug")) is None


def test_the_flag_is_not_passed_to_the_tool(monkeypatch):
    monkeypatch.delenv(TRACEBACK_ENV, raising=False)
    assert run_tool(lambda argv: argv, ["--traceback", "a", "b"]) == ["a", "b"]


def test_an_error_from_a_loader_worker_is_its_own_last_line():
    wrapped = OSError("Caught ImageReadError in DataLoader worker process 0.\nOriginal Traceback (most recent call "
                      "last):\n  File \"x.py\", line 1, in f\npartreid.data.transforms.ImageReadError: Empty image "
                      "file /d/a.jpg (0 bytes)\n")
    assert user_error_message(wrapped) == "Empty image file /d/a.jpg (0 bytes)"


class _FillsUp(io.FileIO):
    """A file on a disk that is full after `room` bytes."""

    room = 4096

    def write(self, data):
        if self.tell() + len(data) > self.room:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        return super().write(data)


def test_a_full_disk_ends_with_no_space_left_and_the_path(tmp_path, monkeypatch):
    """torch.save meets ENOSPC and raises its own RuntimeError ("unexpected pos"); the error that
    reaches the user names the disk and the checkpoint, in its last line."""
    checkpointer = ReidCheckpointer(torch.nn.Linear(64, 64), str(tmp_path))
    monkeypatch.setattr(checkpointer_module, "open", lambda path, mode: _FillsUp(path, "wb"), raising=False)
    target = str(tmp_path / "model_0000001.pth")
    with pytest.raises(OSError) as error:
        checkpointer.save("model_0000001")
    assert error.value.errno == errno.ENOSPC and error.value.filename == target
    assert str(error.value) == f"[Errno 28] No space left on device: '{target}'"
    assert user_error_message(error.value) == str(error.value)
    assert not os.path.exists(target)


def _tool(*args, env=None):
    environment = dict(os.environ, OMP_NUM_THREADS="1", **(env or {}))
    if not env:
        environment.pop(TRACEBACK_ENV, None)
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=environment, capture_output=True, text=True,
                          timeout=300)


@pytest.mark.slow
def test_tools_end_a_users_mistake_with_one_line(tmp_path):
    weights = tiny_run_folder(tmp_path / "run")
    # a batch key <= 0 is refused when the config is set up, before anything is trained
    config = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")
    proc = _tool(TRAIN_NET, "--config-file", config, "TEST.IMS_PER_BATCH", "0", "OUTPUT_DIR", str(tmp_path / "o"))
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: TEST.IMS_PER_BATCH must be a whole number >= 1, got 0")
    assert proc.stderr.count("\n") == 1 and not os.path.exists(tmp_path / "o")
    # the traceback on request
    proc = _tool(TRAIN_NET, "--config-file", config, "TEST.IMS_PER_BATCH", "0", env={TRACEBACK_ENV: "1"})
    assert proc.returncode == 1 and "Traceback (most recent call last)" in proc.stderr
    assert proc.stderr.strip().splitlines()[-1].endswith("TEST.IMS_PER_BATCH must be a whole number >= 1, got 0")

    # a corrupt MODEL.WEIGHTS with --eval-only: one line naming the path
    corrupt = tmp_path / "run" / "model_0000009.pth"
    corrupt.write_bytes(open(weights, "rb").read()[:1000])
    proc = _tool(TRAIN_NET, "--eval-only", "MODEL.WEIGHTS", str(corrupt))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: Checkpoint {corrupt} is unreadable") and proc.stderr.count("\n") == 1
    assert "Config: " + str(tmp_path / "run" / "config.yaml") in proc.stdout  # the run's config, said so

    # a zero-byte image met by a decoding worker: one line naming the file
    images = tmp_path / "images"
    images.mkdir()
    cv2.imwrite(str(images / "a.png"), np.zeros((64, 32, 3), np.uint8))
    (images / "b.png").write_bytes(b"")
    proc = _tool(os.path.join(REPO_ROOT, "tools", "extract_features.py"), "--input", str(images), "--output",
                 str(tmp_path / "f.npy"), "--num-workers", "1", "MODEL.WEIGHTS", weights)
    assert proc.returncode == 2
    empty = images / "b.png"
    assert proc.stderr == f"error: Empty image file {empty} (0 bytes) [{TRACEBACK_ENV}=1 shows the traceback]\n"
