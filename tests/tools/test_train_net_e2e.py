"""tools/train_net.py end to end on a tiny generated SynthVI: train, evaluate, resume."""
import json
import os

import pytest

from partreid.utils.testing import REPO_ROOT, run_train_net, tiny_synthvi_opts

CONFIG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")


def run(args):
    return run_train_net(args, threads=2)


@pytest.fixture(scope="module")
def data_root(tmp_path_factory):
    return str(tmp_path_factory.mktemp("data"))


def read_metrics(out_dir):
    with open(os.path.join(out_dir, "metrics.json")) as f:
        return [json.loads(line) for line in f]


@pytest.mark.slow
def test_train_eval_and_resume(data_root, tmp_path):
    out = str(tmp_path / "run")
    cfg = CONFIG
    proc = run(["--config-file", cfg, *tiny_synthvi_opts(data_root, out)])
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    log = proc.stdout
    assert "2 iterations/epoch x 2 epochs = 4 iterations, 8 images/iteration, 32 images seen" in log
    assert "Rank-1" in log and "mAP" in log
    rows = read_metrics(out)
    evals = [r for r in rows if any(k.startswith("eval/") for k in r)]
    assert [r["iteration"] for r in evals] == [2, 4]  # every epoch (2 iterations), the last one once
    # SynthVI has ground-truth parts: each evaluation scores the 2 part maps, and the summary shows them
    for key in ("maps_alive", "coverage", "uniform_purity", "overlap", "map1/purity", "map2/share/head"):
        assert all(f"eval/part_discovery/{key}" in r for r in evals), key
    assert "Part discovery at iteration 4:" in log and "| uniform map " in log
    assert all(r["total_loss"] == r["total_loss"] for r in rows if "total_loss" in r)  # finite, not NaN
    for name in ("model_final.pth", "model_best.pth", "config.yaml", "log.txt", "last_checkpoint"):
        assert os.path.exists(os.path.join(out, name)), name

    # resuming a finished run exits cleanly without training again
    proc = run(["--config-file", cfg, "--resume", *tiny_synthvi_opts(data_root, out)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Training already finished" in proc.stdout

    # evaluation only, from the final weights
    proc = run(["--config-file", cfg, "--eval-only",
                *tiny_synthvi_opts(data_root, str(tmp_path / "eval"), **{"MODEL.WEIGHTS": os.path.join(out, "model_final.pth")})])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "mAP" in proc.stdout
    with open(os.path.join(tmp_path / "eval", "eval_results.json")) as f:
        written = json.load(f)
    assert written["weights"].endswith("model_final.pth")
    assert written["results"]["all_search_1shot"]["mAP"] == pytest.approx(
        [r for r in rows if "eval/all_search_1shot/mAP" in r][-1]["eval/all_search_1shot/mAP"])

    # evaluation only into the run folder, with the run's own config.yaml (no --config-file) and an
    # evaluation override: config.yaml stays the training record, eval_config.yaml records the evaluation
    record = open(os.path.join(out, "config.yaml")).read()
    moved = str(tmp_path / "moved")  # a run folder moved since its config.yaml was written (OUTPUT_DIR: out)
    os.rename(out, moved)
    original, out = out, moved
    proc = run(["--eval-only", "MODEL.WEIGHTS", os.path.join(out, "model_final.pth"), "TEST.FLIP_FEATURES", "True"])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not os.path.exists(original)  # the results went beside the weights
    run_config = os.path.join(out, "config.yaml")
    assert f"Config: {run_config} (the run folder's config.yaml beside MODEL.WEIGHTS)" in proc.stdout
    assert open(os.path.join(out, "config.yaml")).read() == record and "FLIP_FEATURES: false" in record
    evaluated = open(os.path.join(out, "eval_config.yaml")).read()
    assert "FLIP_FEATURES: true" in evaluated and f"WEIGHTS: {os.path.join(out, 'model_final.pth')}" in evaluated
    with open(os.path.join(out, "eval_results.json")) as f:
        assert json.load(f)["config"] == "eval_config.yaml"


@pytest.mark.slow
def test_same_seed_same_metrics_and_a_rerun_keeps_the_old_metrics(data_root, tmp_path):
    """Two runs with the same config and seed give the same losses and metrics. The second
    one reuses the OUTPUT_DIR with --overwrite: it starts from scratch, and the first run's
    metrics.json is set aside (renamed), not appended to."""
    out = str(tmp_path / "run")
    finals = []
    for flags in ([], ["--overwrite"]):
        proc = run(["--config-file", CONFIG, *flags, *tiny_synthvi_opts(data_root, out, **{"SOLVER.MAX_EPOCHS": 1})])
        assert proc.returncode == 0, proc.stderr[-3000:]
        rows = read_metrics(out)
        assert [r["iteration"] for r in rows if "total_loss" in r] == [1, 2]  # this run only
        finals.append({k: v for r in rows for k, v in r.items() if k.startswith("eval/") or "loss" in k})
    assert finals[0] == finals[1]
    kept = [f for f in os.listdir(out) if f.startswith("metrics.json.")]
    assert len(kept) == 1 and "belonged to an earlier run" in proc.stdout


@pytest.mark.slow
def test_missing_config_file_is_clear(tmp_path):
    proc = run(["--config-file", str(tmp_path / "nope.yaml")])
    assert proc.returncode != 0
    assert "nope.yaml does not exist" in proc.stderr
