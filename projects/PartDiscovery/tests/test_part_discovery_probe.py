"""projects/PartDiscovery/benchmarks/part_discovery_probe.py on a tiny generated SynthVI: the resolution ceiling and the
linear probe run and report what the project README quotes."""
import os
import subprocess
import sys

import pytest

from partreid.utils.testing import REPO_ROOT, tiny_synthvi_opts, train_net_env

SCRIPT = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "benchmarks",
                      "part_discovery_probe.py")
CONFIG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")


def run(tmp_path, *args, **overrides):
    opts = tiny_synthvi_opts(str(tmp_path / "data"), str(tmp_path / "out"), **overrides)
    return subprocess.run([sys.executable, SCRIPT, *args, "--config-file", CONFIG, *opts], cwd=REPO_ROOT,
                          env=train_net_env(1), capture_output=True, text=True, timeout=600)


@pytest.mark.slow
def test_ceiling_and_probe(tmp_path):
    proc = run(tmp_path, "ceiling", "--sizes", "4x2,8x4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {tuple(cell.strip() for cell in line.strip("|").split("|")[:2]): [float(v) for v in line.strip("|").split("|")[2:]]
            for line in proc.stdout.splitlines() if line.startswith("| 4x2") or line.startswith("| 8x4")}
    coarse, fine = rows[("4x2", "per image")], rows[("8x4", "per image")]
    assert all(0 < c <= f <= 1 for c, f in zip(coarse, fine))  # finer maps can only be purer
    # a fixed template cannot be purer than the maps it averages (Cauchy-Schwarz), and is less pure
    # where the parts move between images
    assert all(t <= f + 1e-9 for t, f in zip(rows[("8x4", "template")], fine))
    assert any(t < f - 0.01 for t, f in zip(rows[("8x4", "template")], fine))
    proc = run(tmp_path, "probe", "--random-init")
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "probe accuracy" in proc.stdout and "always the majority part" in proc.stdout
    proc = run(tmp_path, "probe")
    assert proc.returncode == 2 and "exactly one of --weights and --random-init" in proc.stderr


@pytest.mark.slow
def test_bands(tmp_path):
    proc = run(tmp_path, "bands", "--sizes", "8x4", "--num-parts", "2,4")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = [row.strip("|").split("|") for row in proc.stdout.splitlines() if row.startswith("| 8x4")]
    assert [(int(r[1]), r[2].strip()) for r in rows] == [(2, "bands"), (2, "bands x person"), (4, "bands"),
                                                         (4, "bands x person")]
    for _, m, _, alive, coverage, purity, matched in rows:
        assert 0 <= int(coverage) <= int(alive) <= int(m) and 0 < float(purity) <= 1
        assert len(matched.split("),")) == int(m)  # one "part (purity)" per band
    proc = run(tmp_path, "bands", "--sizes", "4x2", "--num-parts", "6")
    assert proc.returncode == 1 and "more bands than the 4 rows" in proc.stderr


@pytest.mark.slow
def test_prior(tmp_path):
    prior = {"PROJECTS": '["partdiscovery"]', "MODEL.PART_HEAD.NAME": "PartDiscoveryHead",
             "MODEL.PART_HEAD.ROW_PRIOR_CENTRES": "[0.2,0.7]"}
    proc = run(tmp_path, "prior", "--sizes", "8x4", **prior)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "row prior: centres [0.2, 0.7], widths [0.25, 0.25]" in proc.stdout  # as the head was built
    spans = {row.strip("|").split("|")[0].strip(): [float(v) for v in row.strip("|").split("|")[1:]]
             for row in proc.stdout.splitlines() if row.startswith("| head") or row.startswith("| feet")}
    assert 0 < spans["head"][0] < spans["feet"][0] < 1  # the head lies above the feet
    rows = [row.strip("|").split("|") for row in proc.stdout.splitlines() if row.startswith("| prior")]
    assert [r[0].strip() for r in rows] == ["prior", "prior x person"]
    for _, alive, coverage, purity, matched in rows:
        assert 0 <= int(coverage) <= int(alive) <= 2 and 0 < float(purity) <= 1
        assert len(matched.split("),")) == 2
    proc = run(tmp_path, "prior", "--sizes", "8x4")
    assert proc.returncode == 1 and "has no row prior" in proc.stderr


def test_background_auc_on_known_rankings():
    import torch

    sys.path.insert(0, os.path.dirname(SCRIPT))
    from part_discovery_probe import background_auc

    background = torch.tensor([True, True, False, False])
    assert background_auc(torch.tensor([3.0, 4.0, 1.0, 2.0]), background) == 1.0
    assert background_auc(torch.tensor([1.0, 2.0, 3.0, 4.0]), background) == 0.0
    assert background_auc(torch.tensor([1.0, 4.0, 2.0, 3.0]), background) == 0.5


@pytest.mark.slow
def test_figure(tmp_path):
    proc = run(tmp_path, "figure", "--random-init")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {row.strip("|").split("|")[0].strip(): float(row.strip("|").split("|")[1])
            for row in proc.stdout.splitlines() if row.startswith("| feature norm") or row.startswith("| the maps")}
    assert list(rows) == ["feature norm (L2 over the channels)", "the maps' background share (1 - sum of the part maps)"]
    assert all(0.0 <= v <= 1.0 for v in rows.values())
    proc = run(tmp_path, "figure")
    assert proc.returncode == 2 and "figure needs exactly one of --weights and --random-init" in proc.stderr


def test_map_pulls_signs():
    import torch

    sys.path.insert(0, os.path.dirname(SCRIPT))
    from part_discovery_probe import map_pulls

    person = torch.zeros(2, 4, 2, dtype=torch.bool)
    person[:, 1:3] = True
    maps = torch.full((2, 2, 4, 2), 0.5, requires_grad=True)
    with torch.no_grad():
        maps[:, 1, 0] = 0.0  # map 2 covers only the person rows and the last (background) row
        maps[:, 1, 3] = 0.0  # ... and not even that: no background cell left
    unrelated = torch.ones((), requires_grad=True)
    pulls = map_pulls(maps, {"onto": -(maps * person).sum(), "off": 3 * (maps * person).sum(),
                             "blind": unrelated * 2}, person)
    assert pulls["onto"][0] == 1.0 and pulls["off"][0] == -3.0 and pulls["blind"][0] == 0.0
    assert all(torch.isnan(pull[1]) for pull in pulls.values())  # map 2 covers no background cell


@pytest.mark.slow
def test_pulls(tmp_path):
    proc = run(tmp_path, "pulls", "--random-init", "--batches", "1", "DATALOADER.NUM_IDENTITIES", "2")
    assert proc.returncode == 0, proc.stderr[-2000:]
    rows = {row.strip("|").split("|")[0].strip(): row.strip("|").split("|")[1:]
            for row in proc.stdout.splitlines() if row.startswith("| loss_") or row.startswith("| total")}
    assert {"loss_id", "loss_cc", "total"} <= set(rows) and all(len(v) == 2 for v in rows.values())  # 2 maps
    assert "1 training batches of 2 ids" in proc.stdout
