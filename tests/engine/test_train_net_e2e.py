"""tools/train_net.py end to end on a tiny generated SynthVI: train, evaluate, resume."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")


def tiny_opts(data_root, out_dir, **extra):
    opts = {
        "DATASETS.ROOT": data_root,
        "DATASETS.SYNTHVI.NUM_TRAIN_IDS": 6,
        "DATASETS.SYNTHVI.NUM_TEST_IDS": 4,
        "DATASETS.SYNTHVI.IMAGES_PER_CAMERA": 2,
        "DATASETS.SYNTHVI.IMAGE_SIZE": "[64,32]",
        "INPUT.SIZE_TRAIN": "[64,32]",
        "INPUT.SIZE_TEST": "[64,32]",
        "MODEL.BACKBONE.DEPTH": 18,
        "MODEL.PART_HEAD.NUM_PARTS": 2,
        "DATALOADER.NUM_IDENTITIES": 2,
        "DATALOADER.NUM_INSTANCES": 4,
        "DATALOADER.ITERS_PER_EPOCH": 2,
        "DATALOADER.NUM_WORKERS": 0,
        "SOLVER.MAX_EPOCHS": 2,
        "SOLVER.STEPS": "[1]",
        "SOLVER.CHECKPOINT_PERIOD": 1,
        "SOLVER.LOG_PERIOD": 1,
        "TEST.EVAL_PERIOD": 1,
        "TEST.NUM_TRIALS": 2,
        "TEST.IMS_PER_BATCH": 16,
        "OUTPUT_DIR": out_dir,
    }
    opts.update(extra)
    return [str(x) for kv in opts.items() for x in kv]


def run(args, cwd=REPO):
    proc = subprocess.run([sys.executable, TRAIN_NET, *args], cwd=cwd, capture_output=True, text=True, timeout=600)
    return proc


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def read_metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f]


def test_train_eval_and_resume(data_root, tmp_path):
    out = str(tmp_path / "run")
    cfg = os.path.join(REPO, "configs", "synthvi_baseline.yaml")
    proc = run(["--config-file", cfg, *tiny_opts(data_root, out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout
    assert "2 iterations/epoch x 2 epochs = 4 iterations, 8 images/iteration, 32 images seen" in log
    assert "Rank-1" in log and "mAP" in log
    rows = read_metrics(out)
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    assert [r["iteration"] for r in evals] == [1, 3]  # every epoch (2 iterations), the last one once
    assert all(r["total_loss"] == r["total_loss"] for r in rows if "total_loss" in r)  # finite, not NaN
    for name in ("model_final.pth", "model_best.pth", "config.yaml", "log.txt", "last_checkpoint"):
        assert os.path.exists(os.path.join(out, name)), name

    # resuming a finished run exits cleanly without training again
    proc = run(["--config-file", cfg, "--resume", *tiny_opts(data_root, out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Training already finished" in proc.stdout

    # evaluation only, from the final weights
    proc = run(["--config-file", cfg, "--eval-only",
                *tiny_opts(data_root, str(tmp_path / "eval"), **{"MODEL.WEIGHTS": os.path.join(out, "model_final.pth")})])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mAP" in proc.stdout


def test_same_seed_same_metrics(data_root, tmp_path):
    cfg = os.path.join(REPO, "configs", "synthvi_baseline.yaml")
    finals = []
    for name in ("a", "b"):
        out = str(tmp_path / name)
        proc = run(["--config-file", cfg, *tiny_opts(data_root, out, **{"SOLVER.MAX_EPOCHS": 1})])
        assert proc.returncode == 0, proc.stderr[-3000:]
        finals.append({k: v for r in read_metrics(out) for k, v in r.items() if k.startswith("eval/") or "loss" in k})
    assert finals[0] == finals[1]


def test_missing_config_file_is_clear(tmp_path):
    proc = run(["--config-file", str(tmp_path / "nope.yaml")])
    assert proc.returncode != 0
    assert "nope.yaml does not exist" in proc.stderr
