"""--num-machines / --machine-rank / --dist-url: a 2-machine job on the loopback interface
(one gloo process per "machine"), as two copies of the same command would start it."""
import os
import socket
import subprocess
import sys

import pytest

from partreid.config import get_cfg
from partreid.data import build_dataset
from partreid.engine.launch import launch
from partreid.utils.testing import REPO_ROOT, TRAIN_NET, tiny_synthvi_opts, train_net_env

CONFIG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_machines_train_together_through_the_flags(tmp_path):
    data, out = str(tmp_path / "data"), str(tmp_path / "out")
    cfg = get_cfg()
    cfg.merge_from_list(tiny_synthvi_opts(data, out))
    build_dataset(cfg, "SynthVI")  # generate once, before two processes read it
    url = f"tcp://127.0.0.1:{_free_port()}"
    procs = [
        subprocess.Popen([sys.executable, TRAIN_NET, "--config-file", CONFIG, "--num-machines", "2",
                          "--machine-rank", str(rank), "--dist-url", url, *tiny_synthvi_opts(data, out)],
                         cwd=REPO_ROOT, env=train_net_env(1), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        for rank in (0, 1)
    ]
    logs = [p.communicate(timeout=600)[0] for p in procs]
    for rank, (proc, log) in enumerate(zip(procs, logs)):
        assert proc.returncode == 0, f"machine {rank}:\n{log[-3000:]}"
    assert "Rank of current process: 0. World size: 2" in logs[0]
    with open(os.path.join(out, "log.txt.rank1")) as f:  # ranks > 0 log to their own file only
        assert "Rank of current process: 1. World size: 2" in f.read()
    assert os.path.isfile(os.path.join(out, "model_final.pth"))
    assert os.path.isfile(os.path.join(out, "evaluations.json"))


def test_launch_checks_its_arguments():
    with pytest.raises(ValueError, match="--machine-rank 2 must be in \\[0, 1\\]"):
        launch(print, 1, num_machines=2, machine_rank=2, dist_url="tcp://127.0.0.1:1")
    with pytest.raises(ValueError, match="--dist-url auto works on one machine only"):
        launch(print, 1, num_machines=2, machine_rank=0)
    with pytest.raises(ValueError, match="must both be >= 1"):
        launch(print, 0)
