"""Helpers for the speed-and-scale tests: tiny SynthVI runs of tools/train_net.py in subprocesses."""
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
BASELINE_CFG = os.path.join(REPO, "configs", "synthvi_baseline.yaml")


def tiny_opts(data_root, out_dir, **extra):
    """64x32 SynthVI with 6 train / 4 test ids, ResNet-18 with 2 parts, 2 identities x 4 images
    per batch, 2 iterations per epoch, a checkpoint and an evaluation every epoch."""
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
        "SOLVER.WARMUP_EPOCHS": 0,
        "SOLVER.CHECKPOINT_PERIOD": 1,
        "SOLVER.LOG_PERIOD": 1,
        "TEST.EVAL_PERIOD": 1,
        "TEST.NUM_TRIALS": 2,
        "TEST.IMS_PER_BATCH": 16,
        "OUTPUT_DIR": out_dir,
    }
    opts.update(extra)
    return [str(x) for kv in opts.items() for x in kv]


def run_python(args, timeout=300):
    """Run `python ARGS` from the repo root with this folder importable (for PROJECTS
    ["bn_free_reid"]) and one thread per process (the tests share 2 cores)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        p for p in (HERE, os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.run([sys.executable, *args], cwd=REPO, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="session")
def synthvi_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthvi"))
