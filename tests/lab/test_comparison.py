"""Paired comparisons (partreid/lab, tools/compare_mixers.py): the t-interval on
known numbers, reading runs back, the pairing check, and the tool end to end on tiny runs
(pairing holds, differences are per seed, finished runs are skipped, a lost final evaluation is
redone)."""
import json
import math
import os
import subprocess
import sys

import pytest

from partreid.checkpoint import load_checkpoint_file
from partreid.lab import comparison, runs
from partreid.lab.report import format_report
from partreid.lab.runs import final_evaluation, metrics_by_iteration
from partreid.lab.statistics import paired_differences, pairing_check, summarise, t_interval
from partreid.lab.warmup import run_probe, warmup_mismatch
from partreid.utils.testing import REPO_ROOT, fake_finished_comparison_run, tiny_synthvi_opts


def test_t_interval_on_known_numbers():
    # mean 3, sd sqrt(2.5), t(0.975, 4) = 2.7764451 -> half width 2.7764451 * sqrt(2.5 / 5) = 1.963243
    ci = t_interval([1.0, 2.0, 3.0, 4.0, 5.0])
    assert ci["mean"] == pytest.approx(3.0)
    assert (ci["low"], ci["high"]) == pytest.approx((3.0 - 1.963243, 3.0 + 1.963243), abs=1e-5)
    # two values 0 and 2: mean 1, sd sqrt(2), t(0.975, 1) = 12.7062047 -> half width 12.7062047
    assert t_interval([0.0, 2.0])["high"] == pytest.approx(1.0 + 12.7062047, abs=1e-5)
    assert t_interval([0.9, 1.1], confidence=0.9)["low"] == pytest.approx(1.0 - 6.3137515 * 0.1, abs=1e-5)
    assert math.isnan(t_interval([4.0])["low"])


def test_paired_differences_use_matching_seeds():
    assert paired_differences({0: 5.0, 1: 7.0, 2: 1.0}, {0: 4.0, 1: 8.0}) == {0: 1.0, 1: -1.0}


def _run(rank1, losses, acc=None):
    return {"group": "g", "metrics": {"Rank-1": rank1, "part_discovery/iou": rank1 / 100}, "losses": losses,
            "fit": {"set_at_start": acc, "batch_last_epoch": None}, "diagnostics": {}, "schedule": None}


def test_summary_pairs_seeds_and_checks_the_pairing():
    runs = {
        "base": {0: _run(10.0, {0: 1.5, 1: 1.25}, acc=90.0), 1: _run(20.0, {0: 2.5}, acc=92.0)},
        "mix": {0: _run(13.0, {0: 1.5, 1: 1.25}, acc=90.0), 1: _run(22.0, {0: 2.5}, acc=92.0)},
    }
    summary = summarise(runs, "base")
    paired = summary["arms"]["mix"]["paired"]["Rank-1"]
    assert paired["values"] == {0: 3.0, 1: 2.0} and paired["mean"] == pytest.approx(2.5)
    assert paired["high"] - paired["mean"] == pytest.approx(12.7062047 * math.sqrt(0.5) / math.sqrt(2), abs=1e-5)
    assert summary["arms"]["mix"]["metrics"]["part_discovery/iou"]["mean"] == pytest.approx(0.175)
    assert summary["arms"]["base"]["fit"]["set_at_start"]["mean"] == pytest.approx(91.0)
    assert summary["arms"]["base"]["fit"]["batch_last_epoch"] is None
    assert summary["pairing"] == {"compared": 3, "mismatches": [], "shared": 0}

    runs["mix"][1]["losses"] = {0: 2.5000001}
    assert len(pairing_check(runs, "base")["mismatches"]) == 1


def test_the_difference_table_leaves_out_metrics_equal_in_every_run():
    runs = {arm: {seed: _run(10.0 + seed + 3 * (arm == "mix"), {0: 1.0}) for seed in (0, 1)} for arm in ("base", "mix")}
    for by_seed in runs.values():
        for run in by_seed.values():
            run["metrics"]["part_discovery/uniform_purity"] = 0.13
    report = format_report(summarise(runs, "base"))
    means, differences = report.split("Paired difference")[0], report.split("Paired difference")[1]
    assert "part_discovery/uniform_purity" in means and "uniform_purity" not in differences.split("\n\n")[1]
    assert "Δ Rank-1" in differences and "+3.00" in differences


def test_reading_a_resumed_run_keeps_the_last_values(tmp_path):
    path = tmp_path / "metrics.json"
    lines = [{"iteration": 0, "total_loss": 3.0}, {"iteration": 1, "total_loss": 2.0},
             {"iteration": 1, "eval/g/mAP": 5.0},  # a periodic evaluation...
             {"iteration": 1, "total_loss": 2.5},  # ...then a resume rewrites iteration 1
             {"iteration": 2, "total_loss": 1.0}]
    path.write_text("".join(json.dumps(r) + "\n" for r in lines))
    rows = metrics_by_iteration(str(path))
    assert rows[1] == {"total_loss": 2.5, "eval/g/mAP": 5.0}
    assert final_evaluation(rows) is None  # the last training iteration has no evaluation yet
    with open(path, "a") as f:
        f.write(json.dumps({"iteration": 2, "eval/g/mAP": 7.0}) + "\n")
    assert final_evaluation(metrics_by_iteration(str(path))) == {"g/mAP": 7.0}


def _compare(args, threads=1):
    env = dict(os.environ, OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    return subprocess.run([sys.executable, os.path.join(REPO_ROOT, "tools", "compare_mixers.py"), *args],
                          cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=900)


@pytest.mark.slow
def test_compare_tool_end_to_end(tmp_path, monkeypatch):
    base = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")
    arms = {"plain": "", "mixup": "MODEL:\n  MIXER:\n    NAME: MixUp\n"}
    configs = []
    for name, body in arms.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"_BASE_: {base}\n{body}")
        configs.append(str(path))
    opts = tiny_synthvi_opts(str(tmp_path / "data"), "unused", **{
        "MODEL.MIXER.START_EPOCH": 1, "TEST.EVAL_PERIOD": 0, "SOLVER.WARMUP_EPOCHS": 0})
    opts = opts[: opts.index("OUTPUT_DIR")] + opts[opts.index("OUTPUT_DIR") + 2:]
    out = tmp_path / "cmp"
    args = ["--configs", *configs, "--seeds", "0", "1", "--output-dir", str(out), *opts]
    proc = _compare(args)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    summary = json.loads((out / "compare.json").read_text())
    assert summary["group"] == "all_search_1shot" and summary["reference"] == "plain"
    # until the mixer starts (iterations 1, 2 of each seed) both arms log the same losses
    assert summary["pairing"] == {"compared": 4, "mismatches": [], "shared": 0}
    mixup, plain = summary["arms"]["mixup"], summary["arms"]["plain"]
    for seed in ("0", "1"):
        expected = mixup["metrics"]["Rank-1"]["values"][seed] - plain["metrics"]["Rank-1"]["values"][seed]
        assert mixup["paired"]["Rank-1"]["values"][seed] == pytest.approx(expected)
    # the training-set accuracy before the mixer starts is the same in both arms (same weights)
    assert plain["fit"]["set_at_start"]["values"] == mixup["fit"]["set_at_start"]["values"]
    assert plain["fit"]["set_final"]["n"] == 2 and plain["fit"]["batch_at_start"]["n"] == 2
    assert mixup["fit"]["batch_last_epoch"] is None  # mixed batches log no accuracy
    assert "Paired difference to `plain`" in (out / "compare.md").read_text()
    assert len((out / "runs.csv").read_text().splitlines()) == 5

    # a run whose final evaluation was lost is evaluated again; finished runs are only read back
    metrics = out / "mixup" / "seed1" / "metrics.json"
    rows = [json.loads(line) for line in metrics.read_text().splitlines()]
    metrics.write_text("".join(json.dumps(r) + "\n" for r in rows if not any(k.startswith("eval/") for k in r)))
    monkeypatch.setattr(runs, "train_run", lambda *a: pytest.fail("a finished run was trained again"))
    again = comparison.run_comparison(configs, [0, 1], str(out), opts)
    for metric in ("Rank-1", "mAP"):
        assert again["arms"]["mixup"]["metrics"][metric]["mean"] == pytest.approx(mixup["metrics"][metric]["mean"])


def test_other_settings_in_a_used_folder_are_refused(tmp_path):
    run_dir = tmp_path / "cmp" / "arm" / "seed0"
    run_dir.mkdir(parents=True)
    config = str(tmp_path / "arm.yaml")
    record = {"config": config, "seed": 0, "opts": ["SOLVER.BASE_LR", "0.1"], "wall_s": 1.0}
    (run_dir / "comparison.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="not the requested"):
        comparison.run_comparison([config], [0], str(tmp_path / "cmp"), ["SOLVER.BASE_LR", "0.2"])
    with pytest.raises(ValueError, match="OUTPUT_DIR"):
        comparison.run_comparison([config], [0], str(tmp_path / "cmp"), ["OUTPUT_DIR", "x"])


def test_result_groups_are_ordered_with_their_numbers_as_numbers():
    groups = ["part_discovery", "all_search_10shot", "indoor_search_1shot", "all_search_1shot"]
    assert sorted(groups, key=runs.natural_order) == ["all_search_1shot", "all_search_10shot", "indoor_search_1shot",
                                                      "part_discovery"]


def _two_arms(tmp_path, second="MODEL:\n  MIXER:\n    NAME: MixUp\n"):
    base = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")
    configs = []
    for name, body in {"plain": "", "mixed": second}.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(f"_BASE_: {base}\n{body}")
        configs.append(str(path))
    return configs


def _final_weights(run_dir):
    return load_checkpoint_file(os.path.join(run_dir, "model_final.pth"))["model"]


@pytest.mark.slow
def test_shared_warmup_gives_the_full_runs_result(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    configs = _two_arms(tmp_path)
    opts = tiny_synthvi_opts(str(tmp_path / "data"), "unused", **{
        "MODEL.MIXER.START_EPOCH": 1, "TEST.EVAL_PERIOD": 0, "SOLVER.WARMUP_EPOCHS": 0})
    opts = opts[: opts.index("OUTPUT_DIR")] + opts[opts.index("OUTPUT_DIR") + 2:]
    full = comparison.run_comparison(configs, [0], str(tmp_path / "full"), opts)
    shared = comparison.run_comparison(configs, [0], str(tmp_path / "shared"), opts, share_warmup=True)

    assert full["pairing"] == {"compared": 2, "mismatches": [], "shared": 0}
    assert shared["pairing"] == {"compared": 0, "mismatches": [], "shared": 1}
    record = json.loads((tmp_path / "shared" / "mixed" / "seed0" / "comparison.json").read_text())
    assert record["warmup_from"] == os.path.join("..", "..", "plain", "seed0")
    # the shared run trained only the iterations from the mixer's start on
    log = (tmp_path / "shared" / "mixed" / "seed0" / "log.txt").read_text()
    assert "Resuming after iteration 2" in log
    for arm in ("plain", "mixed"):
        assert shared["arms"][arm]["metrics"] == full["arms"][arm]["metrics"], arm
        assert shared["arms"][arm]["fit"] == full["arms"][arm]["fit"], arm
        a, b = _final_weights(tmp_path / "full" / arm / "seed0"), _final_weights(tmp_path / "shared" / arm / "seed0")
        assert a.keys() == b.keys() and all(bool((a[k] == b[k]).all()) for k in a), arm
    assert "Shared warm-up: 1 runs" in (tmp_path / "shared" / "compare.md").read_text()


def _probe(mixer_start=4, lr=0.1, total=2.0):
    return {"mixer_start": mixer_start, "lr": {str(it): lr for it in range(1, mixer_start + 1)},
            "losses": {"1": {"total_loss": total, "loss_id": total}, "2": {"total_loss": 1.5, "loss_id": 1.5}}}


def test_warmup_mismatch_names_what_the_arm_does_differently():
    assert warmup_mismatch(_probe(), _probe()) is None
    assert "mixer starts after iteration 2, the reference's after 4" in warmup_mismatch(_probe(mixer_start=2), _probe())
    assert "learning rate at iteration 1 is 0.2, the reference's 0.1" in warmup_mismatch(_probe(lr=0.2), _probe())
    assert "losses at iteration 1 are" in warmup_mismatch(_probe(total=2.5), _probe())
    extra = _probe()
    extra["losses"]["1"]["loss_triplet"] = 0.3
    assert "loss_triplet" in warmup_mismatch(extra, _probe())
    assert "no warm-up to share" in warmup_mismatch(_probe(mixer_start=0), _probe(mixer_start=0))


@pytest.mark.slow
def test_shared_warmup_is_refused_for_an_arm_with_a_loss_active_during_the_warmup(tmp_path, monkeypatch):
    """One arm adds TripletLoss: its config differs from the reference only in the loss list, but
    the loss acts from the first iteration, so the arms' warm-ups differ and none is shared."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    configs = _two_arms(tmp_path, second="MODEL:\n  LOSSES:\n    TRIPLET:\n      ENABLED: True\n")
    opts = tiny_synthvi_opts(str(tmp_path / "data"), "unused", **{"MODEL.MIXER.START_EPOCH": 1})
    opts = opts[: opts.index("OUTPUT_DIR")] + opts[opts.index("OUTPUT_DIR") + 2:]
    monkeypatch.setattr(runs, "train_run", lambda *a: pytest.fail("an arm was trained although it may not share"))
    with pytest.raises(ValueError, match=r"mixed.yaml cannot share the warm-up of .*plain.yaml: its losses at "
                                         r"iteration 1 are .*loss_triplet"):
        comparison.run_comparison(configs, [0], str(tmp_path / "cmp"), opts, share_warmup=True, warmup_check_iters=1)
    # the probes are kept: the reference's logged no triplet term, the arm's did, and the rest is equal up to it
    probes = {arm: run_probe(config, 0, opts, str(tmp_path / "cmp" / "warmup_probes" / arm), 1)
              for arm, config in zip(("plain", "mixed"), configs)}
    assert "loss_triplet" in probes["mixed"]["losses"]["1"] and "loss_triplet" not in probes["plain"]["losses"]["1"]
    assert probes["mixed"]["lr"] == probes["plain"]["lr"]


def test_report_only_reports_the_seeds_finished_in_every_arm(tmp_path, monkeypatch):
    configs = [str(tmp_path / "base.yaml"), str(tmp_path / "mix.yaml")]
    out, opts = tmp_path / "cmp", ["SOLVER.MAX_EPOCHS", "1"]
    for seed in (0, 1):
        for config, rank1 in zip(configs, (10.0 + seed, 13.0 + 2 * seed)):
            fake_finished_comparison_run(out / runs.arm_name(config) / f"seed{seed}", config, seed, opts,
                                         {"g/Rank-1": rank1, "g/mAP": rank1 / 2})
    # seed 2: the reference has finished, the other arm is still training (no final evaluation)
    for config in configs:
        fake_finished_comparison_run(out / runs.arm_name(config) / "seed2", config, 2, opts,
                                     {"g/Rank-1": 50.0, "g/mAP": 25.0})
    (out / "mix" / "seed2" / "model_final.pth").unlink()
    monkeypatch.setattr(runs, "train_run", lambda *a: pytest.fail("report_only trained a run"))

    summary = comparison.run_comparison(configs, [0, 1, 2, 3], str(out), opts, report_only=True)
    assert summary["seeds"] == [0, 1] and summary["seeds_left_out"] == [2, 3]
    assert summary["arms"]["base"]["metrics"]["Rank-1"]["values"] == {0: 10.0, 1: 11.0}
    assert summary["arms"]["mix"]["paired"]["Rank-1"]["values"] == {0: 3.0, 1: 4.0}
    report = (out / "compare.md").read_text()
    assert "seeds [0, 1]" in report and "seeds [2, 3] are left out" in report
    assert not (out / "base" / "seed3").exists()  # nothing is created for a seed not started

    with pytest.raises(ValueError, match="not the requested"):  # other settings in the folder
        comparison.run_comparison(configs, [0], str(out), ["SOLVER.MAX_EPOCHS", "2"], report_only=True)
    with pytest.raises(ValueError, match="no seed of \\[2, 3\\] has finished in every arm"):
        comparison.run_comparison(configs, [2, 3], str(out), opts, report_only=True)
