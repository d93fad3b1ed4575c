"""A training process killed with SIGKILL after a checkpoint resumes (--resume) to exactly the
state of an uninterrupted run with the same seed, and keeps everything it had written."""
import glob
import json
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from partreid.checkpoint import load_checkpoint_file
from partreid.utils.testing import REPO_ROOT as REPO
from partreid.utils.testing import TRAIN_NET, tiny_synthvi_opts

# One thread per run: the runs stay fast and identical on a shared 2-core machine.
SUBPROCESS_ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
BASELINE_CONFIG = os.path.join(REPO, "configs", "synthvi_baseline.yaml")


def tiny_train_opts(data_root, out_dir, **extra):
    """KEY VALUE overrides for a run of 3 epochs x 2 iterations, a checkpoint every epoch and
    one evaluation at the end."""
    opts = {"SOLVER.MAX_EPOCHS": 3, "SOLVER.STEPS": "[2]", "SOLVER.MAX_TO_KEEP": 10, "TEST.EVAL_PERIOD": 0,
            "TEST.NUM_TRIALS": 1, "TEST.IMS_PER_BATCH": 32}
    opts.update(extra)
    return tiny_synthvi_opts(data_root, out_dir, **opts)


def train(opts, resume=False):
    args = [sys.executable, TRAIN_NET, "--config-file", BASELINE_CONFIG, *(["--resume"] if resume else []), *opts]
    proc = subprocess.run(args, cwd=REPO, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout


def last_value_per_iteration(path, key):
    """{iteration: value} keeping the last line of an iteration (a resumed run repeats the
    iterations after its last checkpoint)."""
    values = {}
    with open(path) as f:
        for line in f:
            row = json.loads(line)
            if key in row:
                values[row["iteration"]] = row[key]
    return values


def weights(path):
    return load_checkpoint_file(path)["model"]


@pytest.mark.slow
def test_sigkill_after_a_checkpoint_then_resume_matches_uninterrupted_run(tmp_path):
    data_root = str(tmp_path / "data")
    full_dir, killed_dir = str(tmp_path / "full"), str(tmp_path / "killed")
    train(tiny_train_opts(data_root, full_dir))  # also generates the dataset once

    log_path = tmp_path / "killed_stdout.txt"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            [sys.executable, TRAIN_NET, "--config-file", BASELINE_CONFIG, *tiny_train_opts(data_root, killed_dir)],
            cwd=REPO, env=SUBPROCESS_ENV, stdout=log, stderr=subprocess.STDOUT,
        )
        # the pointer is written after its checkpoint: once it exists, a resumable checkpoint does
        pointer = os.path.join(killed_dir, "last_checkpoint")
        deadline = time.monotonic() + 240
        while not os.path.exists(pointer) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert proc.poll() is None, "training ended before it could be killed:\n" + log_path.read_text()[-3000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    assert not os.path.exists(os.path.join(killed_dir, "model_final.pth"))

    before = {name: open(os.path.join(killed_dir, name), "rb").read()
              for name in ("metrics.json", "log.txt", "config.yaml", "model_0000002.pth")}
    resumed_from = open(os.path.join(killed_dir, "last_checkpoint")).read()
    assert resumed_from in ("model_0000002.pth", "model_0000004.pth")

    stdout = train(tiny_train_opts(data_root, killed_dir), resume=True)
    assert "Resuming after iteration" in stdout

    # nothing already written is lost: the log is appended to, checkpoints are kept, and the
    # metrics rows after the checkpoint (which the resumed run writes again) are set aside
    assert open(os.path.join(killed_dir, "log.txt"), "rb").read().startswith(before["log.txt"])
    checkpoint_iter = int(resumed_from[len("model_"):-len(".pth")])
    kept = [line for line in before["metrics.json"].splitlines(keepends=True)
            if json.loads(line)["iteration"] <= checkpoint_iter]
    set_aside = b"".join(open(p, "rb").read() for p in glob.glob(os.path.join(killed_dir, "metrics.json.repeated-*")))
    assert b"".join(kept) + set_aside == before["metrics.json"]
    assert open(os.path.join(killed_dir, "metrics.json"), "rb").read().startswith(b"".join(kept))
    for name in ("config.yaml", "model_0000002.pth"):
        assert open(os.path.join(killed_dir, name), "rb").read() == before[name], name

    # the same final parameters and buffers, loss curve and metrics as the uninterrupted run
    full, resumed = weights(os.path.join(full_dir, "model_final.pth")), weights(os.path.join(killed_dir, "model_final.pth"))
    assert full.keys() == resumed.keys()
    different = [k for k in full if not torch.equal(full[k], resumed[k])]
    assert not different, f"parameters differ after resume: {different[:5]}"
    for key in ("total_loss", "eval/all_search_1shot/mAP"):
        assert last_value_per_iteration(os.path.join(killed_dir, "metrics.json"), key) == \
            last_value_per_iteration(os.path.join(full_dir, "metrics.json"), key), key
