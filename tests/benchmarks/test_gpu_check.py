"""benchmarks/gpu_check.py, the one prepared GPU check: its CPU mode runs every section that
means something without CUDA (so the script cannot rot before a GPU runs it), its watchdog stops
a section at its cap, and results.json is written after every section."""
import json
import os
import subprocess
import sys
import threading
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = os.path.join(REPO, "benchmarks")
SCRIPT = os.path.join(BENCHMARKS, "gpu_check.py")
BASELINE_CFG = os.path.join(REPO, "configs", "sysu_mm01_baseline.yaml")


@pytest.fixture
def gpu_check(monkeypatch):
    monkeypatch.syspath_prepend(BENCHMARKS)  # the script imports its neighbours bench_train, bench_eval
    import gpu_check

    return gpu_check


@pytest.fixture
def method_config(tmp_path):
    """A method that is not the baseline, from the core alone: the baseline with MixUp."""
    path = tmp_path / "sysu_mixup.yaml"
    path.write_text(f"_BASE_: {BASELINE_CFG}\nMODEL:\n  MIXER:\n    NAME: MixUp\n")
    return str(path)


def test_the_check_fits_in_400_lines():
    with open(SCRIPT) as f:
        assert len(f.readlines()) <= 400


@pytest.mark.slow
def test_cpu_mode_runs_every_section(tmp_path, method_config):
    out = tmp_path / "out"
    env = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1", PYTHONPATH=BENCHMARKS)
    proc = subprocess.run([sys.executable, SCRIPT, "--device", "cpu", "--quick", "--method-config", method_config,
                           "--out", str(out)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    results = json.loads((out / "results.json").read_text())
    sections = results["sections"]
    statuses = {name: section["status"] for name, section in sections.items()}
    cuda_only = {"compile", "fp16_scaler"}
    assert statuses == {**{n: "ok" for n in ("environment", "dataset", "loader", "model_only", "end_to_end",
                                             "end_to_end_device_cache", "deterministic", "evaluation")},
                        **{n: "skipped: needs CUDA" for n in cuda_only}}
    rows = sections["loader"]["details"]["rows"]
    assert [(r["pin_memory"], r["persistent_workers"]) for r in rows] == [(False, False), (False, True),
                                                                          (True, False), (True, True)]
    assert all(r["images_per_s"] > 0 and r["close_s"] < 2.0 for r in rows)
    speed = sections["model_only"]["details"]
    assert speed["baseline"]["ms_per_step"] > 0 and speed["method"]["ms_per_step"] > 0
    assert speed["method_over_baseline"] == pytest.approx(
        speed["method"]["ms_per_step"] / speed["baseline"]["ms_per_step"], abs=1e-3)
    assert sections["end_to_end"]["details"]["fraction_of_model_only"] > 0
    device_cache = sections["end_to_end_device_cache"]["details"]
    assert device_cache["fraction_of_model_only"] > 0 and device_cache["decode_and_upload_s"] > 0
    assert sections["deterministic"]["details"]["bitwise_equal"] is True
    assert sections["evaluation"]["details"]["fp32"]["images"] == 100
    assert any("PyTorch" in line for line in results["environment"])


def _check(gpu_check, tmp_path, *extra):
    args = gpu_check.parse_args(["--device", "cpu", "--quick", "--method-config", "unused.yaml",
                                 "--out", str(tmp_path), *extra])
    os.makedirs(args.out, exist_ok=True)
    return gpu_check.Check(args)


def test_watchdog_stops_a_section_at_its_cap_and_the_results_are_written(gpu_check, tmp_path):
    check = _check(gpu_check, tmp_path)
    watchdog = threading.Thread(target=gpu_check.watchdog, args=(check, 0.05, 60.0), daemon=True)
    watchdog.start()
    try:
        start = time.monotonic()
        check.run("stuck", lambda: time.sleep(30), need_s=0, cap_s=0.5)
        assert time.monotonic() - start < 5
        check.run("next", lambda: {"ran": True}, need_s=0)
    finally:
        check.finished.set()
        watchdog.join()
    sections = json.loads((tmp_path / "results.json").read_text())["sections"]
    assert sections["stuck"]["status"].startswith("stopped after")
    assert sections["next"] == {"status": "ok", "seconds": 0.0, "details": {"ran": True}}


def test_a_section_that_does_not_fit_the_budget_is_skipped_and_a_failure_recorded(gpu_check, tmp_path):
    check = _check(gpu_check, tmp_path, "--budget-s", "10")
    check.run("compile", lambda: pytest.fail("must not run"), need_s=180)
    check.run("broken", lambda: 1 / 0, need_s=0)
    sections = json.loads((tmp_path / "results.json").read_text())["sections"]
    assert sections["compile"]["status"].startswith("skipped: 10 s left, needs 180 s")
    assert sections["broken"]["status"] == "failed: ZeroDivisionError: division by zero"
    assert "ZeroDivisionError" in sections["broken"]["details"]["traceback"]


def test_unknown_sections_are_refused(gpu_check, capsys):
    with pytest.raises(SystemExit):
        gpu_check.parse_args(["--method-config", "m.yaml", "--out", "o", "--only", "loader,warp_drive"])
    assert "warp_drive" in capsys.readouterr().err
