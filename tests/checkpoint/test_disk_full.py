"""Out of disk space while saving (OSError ENOSPC, simulated): the previous checkpoint and the
`last_checkpoint` pointer survive whether the disk fills half-way through the checkpoint or
while the pointer itself is rewritten. (A save that fails before writing anything is covered by
tests/engine/test_trainer.py::test_failed_save_keeps_previous_checkpoint.)"""
import errno
import os

import pytest
import torch

from partreid.checkpoint import ReidCheckpointer, checkpointer as checkpointer_module, load_checkpoint_file


def disk_full():
    return OSError(errno.ENOSPC, "No space left on device")


@pytest.fixture
def saved(tmp_path):
    model = torch.nn.Linear(4, 2)
    ckpt = ReidCheckpointer(model, str(tmp_path))
    ckpt.save("model_0000001")
    return ckpt, model, tmp_path, (tmp_path / "model_0000001.pth").read_bytes()


def leftovers(directory):
    return [f for f in os.listdir(directory) if f.endswith(".tmp")]


def test_disk_fills_half_way_through_the_checkpoint(saved, monkeypatch):
    ckpt, model, out, before = saved
    real_save = torch.save

    def half_then_full(obj, f, *args, **kwargs):
        f.write(b"\x80partial pickle")
        raise disk_full()

    monkeypatch.setattr(torch, "save", half_then_full)
    with torch.no_grad():
        model.weight.add_(1.0)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save("model_0000002")
    assert not (out / "model_0000002.pth").exists()
    assert (out / "model_0000001.pth").read_bytes() == before
    assert (out / "last_checkpoint").read_text() == "model_0000001.pth"
    assert not leftovers(out)

    # the surviving checkpoint still loads, into a fresh model
    monkeypatch.setattr(torch, "save", real_save)
    fresh = torch.nn.Linear(4, 2)
    ReidCheckpointer(fresh, str(out)).resume_or_load("", resume=True)
    assert torch.equal(fresh.weight, load_checkpoint_file(out / "model_0000001.pth")["model"]["weight"])


def test_disk_fills_while_the_pointer_is_rewritten(saved, monkeypatch):
    ckpt, _, out, before = saved
    real_replace = os.replace

    def replace_fails_for_pointer(src, dst):
        if os.path.basename(dst) == "last_checkpoint":
            raise disk_full()
        return real_replace(src, dst)

    monkeypatch.setattr(checkpointer_module.os, "replace", replace_fails_for_pointer)
    with pytest.raises(OSError, match="No space left"):
        ckpt.save("model_0000002")
    # the new file is complete, but the pointer still names the previous, intact checkpoint
    assert (out / "last_checkpoint").read_text() == "model_0000001.pth"
    assert (out / "model_0000001.pth").read_bytes() == before
    assert "model" in load_checkpoint_file(out / "model_0000002.pth")
    assert not leftovers(out)
