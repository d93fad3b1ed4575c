"""Same config + seed at torch's default thread count gives the same run, on the demo model
(ResNet-18, learned part maps, MixUp), and a run killed with SIGKILL then resumed ends where
the uninterrupted run ends. Runs are short (12 iterations at the demo's 128x64 and batch 32)."""
import glob
import os
import signal
import subprocess
import sys
import time

import pytest
import torch

from partreid.checkpoint import load_checkpoint_file
from partreid.utils.testing import REPO_ROOT, TRAIN_NET, run_train_net, train_net_env
from partreid.utils.events import read_metrics
from partreid.utils.visualization import save_training_curves

DEMO_CONFIG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")
# Quantities of a run that must repeat exactly (timings, naturally, do not).
TIMING_KEYS = {"time", "data_time"}


def demo_opts(data_root, out_dir, **extra):
    """The demo config on a smaller SynthVI: 4 epochs x 3 iterations of 8 ids x 4 images at
    128x64, MixUp from epoch 1, a checkpoint every epoch, evaluations at epochs 2 and 4."""
    opts = {
        "DATASETS.ROOT": data_root, "DATASETS.SYNTHVI.NUM_TRAIN_IDS": 10, "DATASETS.SYNTHVI.NUM_TEST_IDS": 6,
        "DATASETS.SYNTHVI.IMAGES_PER_CAMERA": 2, "DATALOADER.ITERS_PER_EPOCH": 3, "SOLVER.MAX_EPOCHS": 4,
        "SOLVER.STEPS": "[3]", "SOLVER.WARMUP_EPOCHS": 1, "MODEL.MIXER.NAME": "MixUp", "MODEL.MIXER.START_EPOCH": 1,
        "SOLVER.CHECKPOINT_PERIOD": 1, "SOLVER.MAX_TO_KEEP": 10, "SOLVER.LOG_PERIOD": 1, "TEST.EVAL_PERIOD": 2,
        "TEST.NUM_TRIALS": 2, "OUTPUT_DIR": out_dir,
    }
    opts.update(extra)
    return ["--config-file", DEMO_CONFIG] + [str(x) for kv in opts.items() for x in kv]


def train(args):
    proc = run_train_net(args, threads=None, timeout=600)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def rows(path):
    """metrics.json's rows without the timings (a row being written by a live run is left out)."""
    return [{k: v for k, v in row.items() if k not in TIMING_KEYS} for row in read_metrics(path)]


def final_weights(out_dir):
    return load_checkpoint_file(os.path.join(out_dir, "model_final.pth"))["model"]


def assert_same_weights(a, b):
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"parameters differ: {different[:5]}"


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """One uninterrupted demo-model run (generates the small SynthVI)."""
    root = tmp_path_factory.mktemp("repro")
    data_root, out = str(root / "data"), str(root / "reference")
    log = train(demo_opts(data_root, out))
    return data_root, out, log


@pytest.mark.slow
def test_demo_model_runs_twice_the_same_at_default_threads(reference, tmp_path):
    data_root, ref_out, log = reference
    assert torch.get_num_threads() > 1 or os.cpu_count() == 1, "the default thread count must be exercised"
    assert "Deterministic run" in log
    # DETERMINISTIC off: the built-in ops must be reproducible by themselves on the CPU
    second = str(tmp_path / "second")
    log2 = train(demo_opts(data_root, second, DETERMINISTIC=False))
    assert "DETERMINISTIC is False" in log2
    ref_rows, second_rows = rows(os.path.join(ref_out, "metrics.json")), rows(os.path.join(second, "metrics.json"))
    # a mixed batch logs no train/id_acc (it has no single right label)
    assert any("total_loss" in r and "train/id_acc" not in r for r in ref_rows), "MixUp never ran"
    assert any("eval/all_search_1shot/mAP" in r for r in ref_rows)
    assert ref_rows == second_rows
    assert_same_weights(final_weights(ref_out), final_weights(second))


@pytest.mark.slow
def test_sigkill_and_resume_matches_the_uninterrupted_demo_run(reference, tmp_path):
    data_root, ref_out, _ = reference
    out = str(tmp_path / "killed")
    args = demo_opts(data_root, out)
    with open(tmp_path / "killed.log", "w") as log:
        proc = subprocess.Popen([sys.executable, TRAIN_NET, *args], cwd=REPO_ROOT, env=train_net_env(None),
                                stdout=log, stderr=subprocess.STDOUT)
        # kill once a checkpoint exists and metrics.json already holds a later iteration
        pointer, metrics = os.path.join(out, "last_checkpoint"), os.path.join(out, "metrics.json")
        deadline = time.monotonic() + 300
        while proc.poll() is None and time.monotonic() < deadline:
            if os.path.exists(pointer) and os.path.exists(metrics) and os.path.getsize(metrics):
                checkpoint_iter = int(open(pointer).read()[len("model_"):-len(".pth")])
                if any(r["iteration"] > checkpoint_iter for r in rows(metrics)):
                    break
            time.sleep(0.02)
        assert proc.poll() is None, "training ended before it could be killed"
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
    before = rows(metrics)
    checkpoint_iter = int(open(pointer).read()[len("model_"):-len(".pth")])

    log = train(args + ["--resume"])  # the flag after the overrides
    assert f"Resuming after iteration {checkpoint_iter}" in log

    after = rows(metrics)
    iterations = [r["iteration"] for r in after if "total_loss" in r]
    assert len(iterations) == len(set(iterations)), "an iteration is in metrics.json twice"
    assert after == rows(os.path.join(ref_out, "metrics.json"))
    # the rows written after the checkpoint before the kill are kept aside, not lost
    side = glob.glob(metrics + ".repeated-*")
    assert len(side) == 1
    assert [r for r in before if r["iteration"] <= checkpoint_iter] + rows(side[0]) == before
    assert all(r["iteration"] > checkpoint_iter for r in rows(side[0]))
    assert_same_weights(final_weights(ref_out), final_weights(out))
    # the curves tool reads the resumed file as one run, each iteration once
    read = read_metrics(metrics)
    assert [r["iteration"] for r in read if "total_loss" in r] == list(range(1, max(iterations) + 1))
    assert os.path.isfile(save_training_curves(read, str(tmp_path / "curves.png")))
