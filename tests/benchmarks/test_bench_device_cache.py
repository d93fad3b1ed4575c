"""benchmarks/bench_device_cache.py times both paths only after checking they give the same batch,
and writes its section into the file it is given."""
import importlib
import os

import pytest

from partreid.utils.testing import REPO_ROOT

BASELINE_CFG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")


def test_bench_device_cache_writes_its_section(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(os.path.join(REPO_ROOT, "benchmarks"))
    output = tmp_path / "BENCHMARKS.md"
    output.write_text("# Benchmarks\n\n## Evaluation\n\nkept\n")
    bench = importlib.import_module("bench_device_cache")
    ratio = bench.main(["--config", BASELINE_CFG, "--batch", "8", "--images", "16", "--rounds", "2",
                        "--output", str(output), "INPUT.RANDOM_ERASING.PROB", "1.0"])
    text = output.read_text()
    assert ratio > 0 and "## Evaluation\n\nkept" in text
    assert "## Device cache: host work per batch" in text and "| batch of 8 at 128x64" in text
    assert "bit for bit, before timing" in text


def test_bench_device_cache_refuses_to_time_different_batches(monkeypatch, tmp_path):
    monkeypatch.syspath_prepend(os.path.join(REPO_ROOT, "benchmarks"))
    bench = importlib.import_module("bench_device_cache")
    monkeypatch.setattr(bench, "augment_batch", lambda images, *rest: images[:8].permute(0, 3, 1, 2))
    with pytest.raises(SystemExit, match="differs from the CPU path's"):
        bench.main(["--config", BASELINE_CFG, "--batch", "8", "--images", "16", "--no-write"])
