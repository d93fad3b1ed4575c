"""Atomic writes: the file gets the umask's mode (not mkstemp's 0600), the directory is fsynced
after the rename, and the temporary files a killed writer leaves are recognised and removed."""
import os

import pytest

from partreid.checkpoint import atomic_write_bytes, checkpointer as checkpointer_module
from partreid.checkpoint.checkpointer import remove_stale_temporaries, temporary_path


@pytest.fixture
def umask():
    previous = os.umask(0o022)
    yield lambda value: os.umask(value)
    os.umask(previous)


@pytest.mark.parametrize("mask, mode", [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_written_files_honour_the_umask(tmp_path, umask, mask, mode):
    umask(mask)
    path = tmp_path / "model_final.pth"
    atomic_write_bytes(str(path), lambda f: f.write(b"weights"))
    assert path.read_bytes() == b"weights"
    assert os.stat(path).st_mode & 0o777 == mode


def test_the_directory_is_fsynced_after_the_rename(tmp_path, monkeypatch):
    events = []
    real_replace, real_fsync = os.replace, os.fsync
    monkeypatch.setattr(checkpointer_module.os, "replace",
                        lambda src, dst: (events.append(("replace", os.path.basename(dst))), real_replace(src, dst)))
    monkeypatch.setattr(checkpointer_module.os, "fsync",
                        lambda fd: (events.append(("fsync", os.readlink(f"/proc/self/fd/{fd}"))), real_fsync(fd)))
    atomic_write_bytes(str(tmp_path / "evaluations.json"), lambda f: f.write(b"[]"))
    assert events[-2:] == [("replace", "evaluations.json"), ("fsync", str(tmp_path))]


def test_stale_temporary_files_are_removed(tmp_path):
    left = temporary_path(str(tmp_path / "model_0000020.pth"))  # as a writer killed mid-write leaves it
    (tmp_path / "model_0000010.pth").write_bytes(b"kept")
    (tmp_path / ".run.lock").write_text("")
    assert remove_stale_temporaries(str(tmp_path)) == [left]
    assert sorted(os.listdir(tmp_path)) == [".run.lock", "model_0000010.pth"]
