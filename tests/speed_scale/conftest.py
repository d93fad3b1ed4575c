"""Helpers for the speed-and-scale tests: tiny SynthVI runs of tools/train_net.py in subprocesses."""
import os
import subprocess
import sys

import pytest

from partreid.utils.testing import tiny_synthvi_opts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HERE = os.path.dirname(os.path.abspath(__file__))
TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
BASELINE_CFG = os.path.join(REPO, "configs", "synthvi_baseline.yaml")


def tiny_opts(data_root, out_dir, **extra):
    """The shared tiny SynthVI run (partreid.utils.testing) without LR warm-up."""
    return tiny_synthvi_opts(data_root, out_dir, **{"SOLVER.WARMUP_EPOCHS": 0, **extra})


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
