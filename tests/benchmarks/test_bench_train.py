"""benchmarks/bench_train.py and bench_determinism.py take the configs they time as arguments (no
project is built in): a tiny run names its tables after the config files and judges --goal-ratio."""
import importlib
import os

import pytest

from partreid.utils.testing import tiny_synthvi_opts

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BENCHMARKS = os.path.join(REPO, "benchmarks")
BASELINE_CFG = os.path.join(REPO, "configs", "synthvi_baseline.yaml")
TINY = ["--depth", "18", "--size", "64", "32", "--batch", "8", "--iters", "1", "--warmup", "0", "--rounds", "1",
        "--eval-images", "8"]


@pytest.fixture
def bench(monkeypatch, tmp_path):
    """(module importer, tiny overrides, a MixUp config derived from the core baseline)."""
    monkeypatch.syspath_prepend(BENCHMARKS)  # bench_determinism imports its neighbour bench_train
    mixup = tmp_path / "synthvi_mixup.yaml"
    mixup.write_text(f"_BASE_: {BASELINE_CFG}\nMODEL:\n  MIXER:\n    NAME: MixUp\n")
    # the tiny run's sizes, which agree with TINY's flags
    opts = tiny_synthvi_opts(str(tmp_path / "data"), str(tmp_path / "out"))
    return importlib.import_module, opts, str(mixup)


@pytest.mark.slow
def test_bench_train_compares_the_given_configs(bench, tmp_path, capsys):
    load, opts, mixup = bench
    output = tmp_path / "BENCHMARKS.md"
    load("bench_train").main(["--config", mixup, "--baseline-config", BASELINE_CFG, "--goal-ratio", "100",
                              "--output", str(output), *TINY, *opts])
    text = output.read_text()
    assert "## Training" in text and "## Inference" in text
    assert "| synthvi_mixup, model only (synthetic batch in memory)" in text
    assert "| synthvi_baseline, model only (synthetic batch in memory)" in text
    assert "synthvi_mixup step / synthvi_baseline step: **" in text and "(goal <= 100.0x: met)" in text
    # every ratio line names the two configs given, none other
    assert text.count(" step / ") == text.count("synthvi_mixup step / synthvi_baseline step")


def test_bench_train_needs_two_configs_with_different_names(bench, capsys):
    load, opts, _ = bench
    bench_train = load("bench_train")
    with pytest.raises(SystemExit):
        bench_train.parse_args(["--config", BASELINE_CFG])
    assert "--baseline-config" in capsys.readouterr().err
    with pytest.raises(ValueError, match="same name 'synthvi_baseline'"):
        bench_train.main(["--config", BASELINE_CFG, "--baseline-config", BASELINE_CFG, "--no-write", *TINY, *opts])


@pytest.mark.slow
def test_bench_determinism_times_the_given_config(bench, tmp_path):
    load, opts, mixup = bench
    output = tmp_path / "BENCHMARKS.md"
    ratio = load("bench_determinism").main(["--config", mixup, "--output", str(output), *TINY, *opts])
    assert ratio > 0
    text = output.read_text()
    assert "## Determinism" in text and "| synthvi_mixup training step" in text
