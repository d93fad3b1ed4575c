"""One run per OUTPUT_DIR (the lock, --overwrite) and config.yaml as the training's record."""
import json
import os
import socket
import subprocess

import portalocker
import pytest

from partreid.config import get_cfg
from partreid.engine import run_folder
from partreid.engine.defaults import default_argument_parser, record_training_config
from partreid.engine.run_folder import RunFolderError, RunFolderLock


def dead_pid():
    proc = subprocess.Popen(["true"])
    proc.wait()
    return proc.pid


def test_a_held_folder_is_refused_naming_the_process_and_host(tmp_path):
    first = RunFolderLock(str(tmp_path))
    assert first.acquire() == []
    with pytest.raises(RunFolderError, match=rf"in use by process {os.getpid()} on host {socket.gethostname()}"):
        RunFolderLock(str(tmp_path)).acquire()
    first.release()
    assert (tmp_path / ".run.lock").read_text() == ""  # a clean end leaves no holder behind
    second = RunFolderLock(str(tmp_path))
    assert second.acquire() == []
    assert json.loads((tmp_path / ".run.lock").read_text())["pid"] == os.getpid()
    second.release()


def test_the_lock_of_a_killed_process_is_taken_over_with_a_warning(tmp_path):
    # the kernel dropped its flock; the file still names it
    pid = dead_pid()
    (tmp_path / ".run.lock").write_text(json.dumps({"pid": pid, "host": socket.gethostname()}))
    lock = RunFolderLock(str(tmp_path))
    warnings = lock.acquire()
    assert len(warnings) == 1 and f"process {pid}" in warnings[0] and "without releasing" in warnings[0]
    lock.release()


def test_a_lock_held_by_an_orphan_of_a_dead_process_is_taken_over(tmp_path):
    # e.g. a data-loader worker that inherited the lock's descriptor outlives the run it belonged to
    path = tmp_path / ".run.lock"
    orphan = open(path, "a+")
    portalocker.lock(orphan, portalocker.LockFlags.EXCLUSIVE | portalocker.LockFlags.NON_BLOCKING)
    orphan.write(json.dumps({"pid": dead_pid(), "host": socket.gethostname()}))
    orphan.flush()
    old_inode = os.stat(path).st_ino
    lock = RunFolderLock(str(tmp_path))
    warnings = lock.acquire()
    assert len(warnings) == 1 and "no longer runs" in warnings[0]
    assert os.stat(path).st_ino != old_inode
    with pytest.raises(RunFolderError, match="in use by"):  # the new file is locked by us
        RunFolderLock(str(tmp_path)).acquire()
    lock.release()
    orphan.close()


def test_a_fresh_run_over_checkpoints_needs_overwrite(tmp_path):
    for name in ("model_0000010.pth", "model_final.pth", "last_checkpoint", "metrics.json"):
        (tmp_path / name).write_text("x")
    with pytest.raises(RunFolderError, match=r"model_0000010.pth.*--resume.*--overwrite"):
        run_folder.prepare_fresh_run(str(tmp_path), overwrite=False)
    assert (tmp_path / "model_final.pth").exists()
    notes = run_folder.prepare_fresh_run(str(tmp_path), overwrite=True)
    assert "last_checkpoint, model_0000010.pth, model_final.pth" in notes[0]
    assert sorted(os.listdir(tmp_path)) == ["metrics.json"]  # set aside later, by the trainer
    assert run_folder.prepare_fresh_run(str(tmp_path), overwrite=False) == []
    assert default_argument_parser().parse_args(["--config-file", "c.yaml", "--overwrite"]).overwrite


def resumable_run(tmp_path):
    cfg = get_cfg()
    cfg.OUTPUT_DIR = str(tmp_path)
    (tmp_path / "config.yaml").write_text(cfg.dump())
    (tmp_path / "last_checkpoint").write_text("model_0000010.pth")
    return cfg


def test_a_resume_that_changes_the_training_is_refused_listing_the_keys(tmp_path):
    cfg = resumable_run(tmp_path)
    before = (tmp_path / "config.yaml").read_text()
    cfg.SOLVER.BASE_LR, cfg.TEST.PRECISE_BN.ENABLED, cfg.TEST.IMS_PER_BATCH = 0.5, True, 7
    with pytest.raises(RunFolderError, match=r"SOLVER.BASE_LR, TEST.PRECISE_BN.ENABLED would change the training.*"
                                             r"SOLVER.BASE_LR: 0.00035 -> 0.5"):
        record_training_config(cfg, resume=True)
    assert (tmp_path / "config.yaml").read_text() == before


def test_a_resume_with_other_evaluation_settings_keeps_config_yaml_and_records_them(tmp_path, caplog):
    cfg = resumable_run(tmp_path)
    before = (tmp_path / "config.yaml").read_text()
    cfg.TEST.IMS_PER_BATCH, cfg.DATASETS.ROOT = 7, "/elsewhere"
    record_training_config(cfg, resume=True)
    assert (tmp_path / "config.yaml").read_text() == before
    side = [f for f in os.listdir(tmp_path) if f.startswith("config.resume-")]
    assert len(side) == 1 and "IMS_PER_BATCH: 7" in (tmp_path / side[0]).read_text()
    assert "DATASETS.ROOT" in caplog.text and "TEST.IMS_PER_BATCH: 128 -> 7" in caplog.text
    # the same config again: nothing to record
    record_training_config(resumable_run(tmp_path), resume=True)
    assert len([f for f in os.listdir(tmp_path) if f.startswith("config.resume-")]) == 1
