"""benchmarks/gpu_check.py, the one prepared GPU check: its reduced CPU mode runs every section
that means something without CUDA (so the script cannot rot before a GPU runs it), and its
target verdicts and argument checks are right."""
import json
import os
import subprocess
import sys

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = os.path.join(REPO, "benchmarks")
SCRIPT = os.path.join(BENCHMARKS, "gpu_check.py")

RUN_ON_CPU = ["environment", "dataset", "train_bf16", "eval_checkpoint", "mining", "onnx", "speed_model_only",
              "speed_end_to_end", "sysu_eval", "deterministic", "speed_channels_last"]
CUDA_ONLY = ["train_fp16", "speed_amp", "speed_compile", "speed_end_to_end_fp32", "sysu_eval_cuda_features"]
MEASURED_ON_CPU = ["baseline_model_only", "partmix_model_only", "loader_only", "partmix_e2e", "baseline_e2e",
                   "partmix_e2e_config_workers", "baseline_model_only_nchw", "partmix_model_only_nchw"]
MAIN_TARGETS = ["PartMix / baseline model-only step (batch 128, bf16)", "PartMix end-to-end / model-only images/s",
                "baseline end-to-end / model-only images/s"]


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)  # the script imports its neighbour bench_train
    import gpu_check

    return gpu_check


@pytest.mark.slow
def test_quick_cpu_mode_runs_every_section(tmp_path):
    out, work = tmp_path / "out", tmp_path / "work"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--quick", "--out", str(out),
                           "--work-dir", str(work)], cwd=REPO, env=env, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    # only the four small result files in --out; checkpoints and data went to --work-dir
    assert sorted(os.listdir(out)) == ["env.txt", "log.txt", "results.json", "results.md"]
    assert os.path.isfile(work / "train_bf16" / "model_final.pth")

    results = json.loads((out / "results.json").read_text())
    statuses = {name: section["status"] for name, section in results["sections"].items()}
    assert statuses == {**{n: "ok" for n in RUN_ON_CPU}, **{n: "skipped: needs CUDA" for n in CUDA_ONLY}}
    resume = results["sections"]["train_bf16"]["details"]
    assert resume["resumed after iteration"] == resume["killed after iteration"]
    rows = {row["key"]: row for row in results["speed"]}
    assert sorted(rows) == sorted(MEASURED_ON_CPU)
    assert all(row["status"] == "ok" and row["images_per_s"] > 0 for row in rows.values())
    targets = {t["target"]: t for t in results["targets"]}
    for name in MAIN_TARGETS:
        assert targets[name]["verdict"] in ("PASS", "FAIL") and targets[name]["value"] > 0
        assert "reduced mode" in targets[name]["note"]

    markdown = (out / "results.md").read_text()
    for heading in ("## Sections", "## Targets", "## Training speed", "## Other measurements"):
        assert heading in markdown
    for key in MEASURED_ON_CPU + CUDA_ONLY:
        assert f"| {key} " in markdown
    assert "SYSU-sized evaluation, 10 trials" in markdown
    assert "PyTorch" in (out / "env.txt").read_text()


def test_targets_pass_and_fail_at_their_limits(gpu_check, tmp_path):
    args = gpu_check.parse_args(["--device", "cpu", "--out", str(tmp_path / "out"), "--work-dir", str(tmp_path / "w")])
    check = gpu_check.GpuCheck(args)

    def measure(key, ms):
        check.add_speed({"key": key, "status": "ok", "amp": "bf16", "ms_per_step": ms, "images_per_s": 1000 / ms})

    measure("baseline_model_only", 100.0)
    measure("partmix_model_only", 114.0)
    measure("partmix_e2e", 114.0 / 0.91)
    measure("baseline_e2e", 100.0 / 0.89)
    verdicts = {t["target"]: t["verdict"] for t in check.targets()}
    assert [verdicts[name] for name in MAIN_TARGETS] == ["PASS", "PASS", "FAIL"]
    assert verdicts["PartMix / baseline model-only step, torch.compile"] == "n/a (not measured)"
    measure("partmix_model_only", 116.0)
    assert check.targets()[0]["verdict"] == "FAIL"


def test_bad_arguments_are_refused(gpu_check, tmp_path, capsys):
    out = str(tmp_path / "out")
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--device", "cpu", "--out", out, "--work-dir", os.path.join(out, "scratch")])
    assert "inside --out" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--device", "cpu", "--out", out, "--only", "mining,warp_drive"])
    assert "warp_drive" in capsys.readouterr().err
