"""Multi-process training on the CPU (gloo): `--num-gpus 2` and `torchrun` against 1 process.

What must match, and why: with the BN-free `PooledLinearReid` model (tests/engine/bn_free_reid.py)
a step's loss is one mean cross-entropy over the batch, so the DDP gradient (the mean of the
two ranks' gradients over their halves of the same global batch) equals the one-process gradient
up to float summation order. The samplers give every world size the same global batches and the
same augmentations, so after 4 Adam steps the parameters of a 2-process run, of a 1-process run,
and of a 1-process run resumed from the 2-process run's epoch-1 checkpoint agree within 1e-5,
and the evaluation (sharded test loader, features gathered on rank 0) gives the same metrics.
The real baseline has BatchNorm with per-rank batch statistics, which legitimately differ
from the one-process statistics: for it we check only that torchrun with SyncBN requested runs
on the CPU (warning, plain BN kept) and writes a checkpoint that one process loads.
"""
import json
import os
import shutil
import subprocess
import sys

import pytest
import torch

from partreid.checkpoint import load_checkpoint_file
from partreid.utils.testing import REPO_ROOT, TRAIN_NET, declare_project, tiny_synthvi_opts

HERE = os.path.dirname(os.path.abspath(__file__))
BASELINE_CFG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")
BN_FREE = {"PROJECTS": '["bn_free_reid"]', "MODEL.META_ARCHITECTURE": "PooledLinearReid"}


def tiny_opts(data_root, out_dir, **extra):
    """The shared tiny SynthVI run (partreid.utils.testing) without LR warm-up."""
    return tiny_synthvi_opts(data_root, out_dir, **{"SOLVER.WARMUP_EPOCHS": 0, **extra})


def run_python(args, project_site="", timeout=300):
    """Run `python ARGS` from the repo root with this folder importable and `project_site`
    declaring it a project (for PROJECTS ["bn_free_reid"]), one thread per process (the tests
    share 2 cores)."""
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=os.pathsep.join(
        p for p in (HERE, project_site, os.environ.get("PYTHONPATH", "")) if p))
    return subprocess.run([sys.executable, *args], cwd=REPO_ROOT, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.fixture(scope="module")
def synthvi_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("synthvi"))


@pytest.fixture(scope="module")
def bn_free_site(tmp_path_factory):
    """A folder that declares bn_free_reid an installed partreid project."""
    site = tmp_path_factory.mktemp("site")
    declare_project(site, "bn_free_reid")
    return str(site)


def _final_params(out_dir):
    return load_checkpoint_file(os.path.join(out_dir, "model_final.pth"))["model"]


def _eval_rows(out_dir):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        rows = [json.loads(line) for line in f]
    return {r["iteration"]: {k: v for k, v in r.items() if k.startswith("eval/")}
            for r in rows if any(k.startswith("eval/") for k in r)}


def _assert_same_params(a, b):
    assert a.keys() == b.keys()
    for name in a:
        torch.testing.assert_close(a[name], b[name], atol=1e-5, rtol=1e-4, msg=lambda m: f"{name}: {m}")


@pytest.mark.slow
def test_two_processes_match_one_and_resume_in_one(synthvi_root, bn_free_site, tmp_path):
    single, double, resumed = (str(tmp_path / n) for n in ("single", "double", "resumed"))
    proc = run_python([TRAIN_NET, "--config-file", BASELINE_CFG, *tiny_opts(synthvi_root, single, **BN_FREE)],
                      bn_free_site)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    proc = run_python([TRAIN_NET, "--config-file", BASELINE_CFG, "--num-gpus", "2",
                       *tiny_opts(synthvi_root, double, **BN_FREE)], bn_free_site)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "World size: 2" in proc.stdout
    _assert_same_params(_final_params(single), _final_params(double))
    single_evals, double_evals = _eval_rows(single), _eval_rows(double)
    assert sorted(single_evals) == [2, 4]
    assert double_evals.keys() == single_evals.keys()
    for iteration, metrics in single_evals.items():
        assert double_evals[iteration] == pytest.approx(metrics, abs=1e-6)

    # a checkpoint of the 2-process run (end of epoch 1, iteration 2) resumes in 1 process
    os.makedirs(resumed)
    shutil.copy(os.path.join(double, "model_0000002.pth"), resumed)
    with open(os.path.join(resumed, "last_checkpoint"), "w") as f:
        f.write("model_0000002.pth")
    proc = run_python([TRAIN_NET, "--config-file", BASELINE_CFG, "--resume",
                       *tiny_opts(synthvi_root, resumed, **BN_FREE)], bn_free_site)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert "Resuming after iteration 2" in proc.stdout
    _assert_same_params(_final_params(single), _final_params(resumed))


# Every fast-path switch on: each must work or be a logged no-op on the CPU.
FAST_PATH = {
    "MODEL.BACKBONE.NORM": "SyncBN",
    "SOLVER.COMPILE": True,
    "SOLVER.AMP.ENABLED": True,
    "MODEL.CHANNELS_LAST": True,
    "CUDNN_BENCHMARK": True,
    "DATALOADER.NUM_WORKERS": 1,
    "DATALOADER.PIN_MEMORY": True,
}


@pytest.mark.slow
def test_torchrun_with_every_switch_on_cpu(synthvi_root, tmp_path):
    out = str(tmp_path / "torchrun")
    proc = run_python(["-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "2", TRAIN_NET,
                       "--config-file", BASELINE_CFG,
                       *tiny_opts(synthvi_root, out, **FAST_PATH, **{"SOLVER.MAX_EPOCHS": 1})])
    log = proc.stdout + proc.stderr
    assert proc.returncode == 0, log[-4000:]
    assert "World size: 2" in log
    assert "SyncBN needs CUDA" in log
    assert "SOLVER.COMPILE=True is ignored on cpu" in log
    assert "Mixed precision" not in log
    assert "Rank-1" in log
    state = _final_params(out)
    assert any(k.endswith("running_mean") for k in state)
    # rank 0's checkpoint loads into a single-process model built with plain BN
    from partreid.config import setup_cfg
    from partreid.modeling.meta_arch.build import build_model

    cfg = setup_cfg(BASELINE_CFG, tiny_opts(synthvi_root, out, **{"MODEL.NUM_CLASSES": 6, "MODEL.DEVICE": "cpu"}))
    model = build_model(cfg)
    model.load_state_dict(state)
