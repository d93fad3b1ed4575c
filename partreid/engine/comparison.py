"""Paired multi-seed comparisons of training configs ("arms").

Every arm trains once per seed with `tools/train_net.py --resume` in its own folder
OUTPUT_DIR/<arm>/seed<k>. SEED fixes the initial weights (seeded right before the model is
built), the batches and their augmentations (a function of SEED and the iteration, see
partreid/data/samplers/base.py); mixers draw from their own generator. Two arms at the same seed
therefore differ only in what the arm changes, and an arm's effect is estimated from its
per-seed differences to a reference arm, with a t-interval over the seeds. The report checks
that pairing: until the mixers start (MODEL.MIXER.START_EPOCH) every arm's logged losses must
equal the reference arm's.

With `share_warmup`, the arms other than the reference do not repeat those identical iterations:
each starts from a copy of the reference's checkpoint at the mixer's start (same seed), with the
reference's metrics rows before it, and trains on from there under its own config. The result
is the one a full run gives (tests/engine/test_comparison.py checks it bit for bit), at a cost of
(1 + (arms - 1) * (1 - start / total)) runs per seed instead of `arms`. It is refused when the
arms' configs differ in anything but the mixer's keys (MIXER_KEYS); the pairing check then has
nothing left to compare for the shared runs, and the report says so.

Seeds are the outer loop: a comparison stopped part-way leaves complete pairs for its first
seeds.

A comparison can be stopped and started again: finished runs are read back, interrupted ones
resume from their last checkpoint, and a run whose final evaluation was cut off is evaluated
again from model_final.pth. Each run folder records its config and overrides in
`comparison.json`; asking for other settings in the same folder is an error, so one output
folder never mixes two regimes.
"""
import csv
import json
import logging
import math
import os
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, List, Optional, Sequence

import yaml
from scipy import stats as scipy_stats
from tabulate import tabulate

from ..checkpoint import atomic_write_bytes
from ..utils.events import read_metrics

logger = logging.getLogger(__name__)

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_NET = os.path.join(REPO_ROOT, "tools", "train_net.py")
RUN_RECORD = "comparison.json"
# Scalars that are not training diagnostics even though their names hold a "/".
NOT_DIAGNOSTICS = ("eval/", "train/")
# How far each run has fit its training set (summarise_run's "fit"), with the report's headers.
FIT_COLUMNS = {
    "set_at_start": "training set, at mixer start",
    "set_final": "training set, end",
    "batch_at_start": "batches, epoch before mixer start",
    "batch_last_epoch": "batches, last epoch",
}


def arm_name(config: str) -> str:
    return os.path.splitext(os.path.basename(config))[0]


# ---------------------------------------------------------------------------- reading runs


def metrics_by_iteration(path: str) -> Dict[int, Dict[str, float]]:
    """The numbers of metrics.json as {iteration: {name: value}} (text entries are left out);
    {} for a file with nothing in it yet. Later rows of an iteration win."""
    if not os.path.getsize(path):
        return {}
    rows: Dict[int, Dict[str, float]] = {}
    for row in read_metrics(path):
        numbers = {k: float(v) for k, v in row.items()
                   if isinstance(v, (int, float)) and not isinstance(v, bool) and k != "iteration"}
        rows.setdefault(int(row["iteration"]), {}).update(numbers)
    return rows


def final_evaluation(rows: Dict[int, Dict[str, float]]) -> Optional[Dict[str, float]]:
    """{"group/metric": value} of the evaluation at the last training iteration (the one the
    engine runs after training), or None when the run has not reached it."""
    trained = [it for it, row in rows.items() if "total_loss" in row]
    if not trained:
        return None
    last = rows[max(trained)]
    evaluation = {k[len("eval/"):]: v for k, v in last.items() if k.startswith("eval/")}
    return evaluation or None


def mean_between(rows: Dict[int, Dict[str, float]], key: str, after: int, upto: int) -> Optional[float]:
    """Mean of the logged values of `key` at iterations after < it <= upto (iterations are
    numbered from 1, as metrics.json does: those of the epoch ending at 20 are 10 < it <= 20
    with 10 iterations per epoch); None if none."""
    values = [row[key] for it, row in rows.items() if after < it <= upto and key in row]
    return statistics.fmean(values) if values else None


def run_schedule(config: dict) -> Optional[Dict[str, int]]:
    """Iterations per epoch, the iterations done when the mixer starts, and the total, from a run's saved
    config.yaml; None when DATALOADER.ITERS_PER_EPOCH is not pinned (the epoch length then
    depends on the dataset and is not in the config)."""
    ipe = int(config["DATALOADER"]["ITERS_PER_EPOCH"])
    if ipe <= 0:
        return None
    return {
        "iters_per_epoch": ipe,
        "mixer_start": int(config["MODEL"]["MIXER"]["START_EPOCH"]) * ipe,
        "max_iter": int(config["SOLVER"]["MAX_EPOCHS"]) * ipe,
    }


def summarise_run(run_dir: str, group: Optional[str], metrics: Sequence[str]) -> dict:
    """The numbers the comparison reports for one finished run:
    "metrics" ({name: value}: `metrics` of the result group, and the whole-model metrics of the
    part-discovery groups, eval/part*); "fit" ({FIT_COLUMNS key: accuracy %}: on the whole
    unaugmented training set, from comparison.json, and the mean logged train/id_acc of the
    augmented batches of the epoch before the mixer starts and of the last epoch);
    "diagnostics" (mean of every other namespaced scalar, e.g. partmix/*, from the mixer's start
    on); "losses" ({iteration: total_loss} before the mixer starts, for the pairing check) and
    "shared_warmup" (whether those came from the reference run: `start_from_reference_warmup`)."""
    rows = metrics_by_iteration(os.path.join(run_dir, "metrics.json"))
    evaluation = final_evaluation(rows)
    if evaluation is None:
        raise RuntimeError(f"{run_dir}/metrics.json holds no final evaluation")
    groups = sorted({key.split("/", 1)[0] for key in evaluation})
    if group is None:
        group = next((g for g in groups if f"{g}/{metrics[0]}" in evaluation), None)
    if group not in groups:
        raise KeyError(f"{run_dir}: no result group {group!r} in the final evaluation (groups: {groups})")
    missing = [m for m in metrics if f"{group}/{m}" not in evaluation]
    if missing:
        raise KeyError(f"{run_dir}: group {group!r} has no {missing} (it has {sorted(evaluation)})")
    values = {m: evaluation[f"{group}/{m}"] for m in metrics}
    values.update({k: v for k, v in evaluation.items() if _is_part_summary(k)})

    with open(os.path.join(run_dir, "config.yaml")) as f:
        schedule = run_schedule(yaml.safe_load(f))
    with open(os.path.join(run_dir, RUN_RECORD)) as f:
        record = json.load(f)
    set_acc = record.get("train_set_acc", {})
    fit = {"set_at_start": set_acc.get("at_mixer_start"), "set_final": set_acc.get("final"),
           "batch_at_start": None, "batch_last_epoch": None}
    summary = {"group": group, "metrics": values, "fit": fit, "diagnostics": {}, "losses": {}, "schedule": schedule,
               "shared_warmup": "warmup_from" in record}
    if schedule is not None:
        start, ipe, end = schedule["mixer_start"], schedule["iters_per_epoch"], schedule["max_iter"]
        fit["batch_at_start"] = mean_between(rows, "train/id_acc", start - ipe, start) if start > 0 else None
        fit["batch_last_epoch"] = mean_between(rows, "train/id_acc", end - ipe, end)
        summary["losses"] = {it: row["total_loss"] for it, row in rows.items() if it <= start and "total_loss" in row}
        names = {k for row in rows.values() for k in row if "/" in k and not k.startswith(NOT_DIAGNOSTICS)}
        summary["diagnostics"] = {k: mean_between(rows, k, start, end) for k in sorted(names)}
    return summary


def _is_part_summary(key: str) -> bool:
    """A whole-model metric of a part-discovery group ("part_discovery/coverage"): per-map
    entries ("part_discovery/map2/purity") are left out, since map m of one run has nothing to
    do with map m of another."""
    group, _, metric = key.partition("/")
    return group.startswith("part") and "/" not in metric and not metric.endswith("_std")


# ---------------------------------------------------------------------------- statistics


def t_interval(values: Sequence[float], confidence: float = 0.95) -> Dict[str, float]:
    """Mean and the two-sided `confidence` interval of the mean with the t-distribution
    (n - 1 degrees of freedom); the interval is NaN for fewer than two values."""
    n = len(values)
    if n == 0:
        raise ValueError("t_interval needs at least one value")
    mean = statistics.fmean(values)
    if n < 2:
        return {"mean": mean, "low": math.nan, "high": math.nan, "n": n}
    half = scipy_stats.t.ppf(0.5 + confidence / 2, n - 1) * statistics.stdev(values) / math.sqrt(n)
    return {"mean": mean, "low": mean - half, "high": mean + half, "n": n}


def paired_differences(values: Dict[int, float], reference: Dict[int, float]) -> Dict[int, float]:
    """values[seed] - reference[seed] for the seeds both have."""
    return {seed: values[seed] - reference[seed] for seed in sorted(values) if seed in reference}


def _mean_std(values: List[float]) -> Dict[str, float]:
    return {"mean": statistics.fmean(values), "std": statistics.stdev(values) if len(values) > 1 else 0.0,
            "n": len(values)}


def summarise(runs: Dict[str, Dict[int, dict]], reference: str, confidence: float = 0.95) -> dict:
    """Aggregate {arm: {seed: summarise_run(...)}} into per-arm means, paired differences to
    the `reference` arm with t-intervals, diagnostics means and the pairing check."""
    if reference not in runs:
        raise KeyError(f"reference arm {reference!r} is not among the arms {sorted(runs)}")
    metric_names = list(dict.fromkeys(m for by_seed in runs.values() for r in by_seed.values() for m in r["metrics"]))

    def per_seed(arm, pick):
        return {seed: pick(r) for seed, r in runs[arm].items() if pick(r) is not None}

    arms = {}
    for arm in runs:
        entry = {"seeds": sorted(runs[arm]), "metrics": {}, "paired": {}, "diagnostics": {}}
        for name in metric_names:
            values = per_seed(arm, lambda r: r["metrics"].get(name))
            if not values:
                continue
            entry["metrics"][name] = {**_mean_std(list(values.values())), "values": values}
            if arm != reference:
                diffs = paired_differences(values, per_seed(reference, lambda r: r["metrics"].get(name)))
                if diffs:
                    entry["paired"][name] = {**t_interval(list(diffs.values()), confidence), "values": diffs}
        entry["fit"] = {}
        for key in FIT_COLUMNS:
            values = per_seed(arm, lambda r: r["fit"].get(key))
            entry["fit"][key] = {**_mean_std(list(values.values())), "values": values} if values else None
        diag_names = sorted({k for r in runs[arm].values() for k, v in r["diagnostics"].items() if v is not None})
        for key in diag_names:
            values = per_seed(arm, lambda r: r["diagnostics"].get(key))
            entry["diagnostics"][key] = {**_mean_std(list(values.values())), "values": values}
        arms[arm] = entry
    return {"reference": reference, "confidence": confidence, "metrics": metric_names, "arms": arms,
            "pairing": pairing_check(runs, reference)}


def pairing_check(runs: Dict[str, Dict[int, dict]], reference: str) -> dict:
    """Whether, at every seed, each arm logged exactly the reference arm's total_loss at every
    iteration before the mixers start (same weights, batches and losses until then). Runs that
    started from the reference's warm-up are counted as "shared", not compared."""
    mismatches, compared, shared = [], 0, 0
    for arm, by_seed in runs.items():
        if arm == reference:
            continue
        for seed, run in by_seed.items():
            if run.get("shared_warmup"):
                shared += 1
                continue
            ref = runs[reference].get(seed)
            if ref is None or not run["losses"] or not ref["losses"]:
                continue
            for it in sorted(set(run["losses"]) | set(ref["losses"])):
                a, b = run["losses"].get(it), ref["losses"].get(it)
                compared += 1
                if a != b:
                    mismatches.append(f"{arm} seed {seed} iteration {it}: total_loss {a} vs {reference} {b}")
    return {"compared": compared, "mismatches": mismatches, "shared": shared}


# ---------------------------------------------------------------------------- report


def _fmt(stat: Optional[dict], digits: int = 2) -> str:
    if not stat:
        return "-"
    if stat.get("n", 0) > 1:
        return f"{stat['mean']:.{digits}f} ± {stat['std']:.{digits}f}"
    return f"{stat['mean']:.{digits}f}"


def _fmt_ci(stat: Optional[dict]) -> str:
    if not stat:
        return "-"
    if math.isnan(stat["low"]):
        return f"{stat['mean']:+.2f} (n={stat['n']}, no interval)"
    return f"{stat['mean']:+.2f} [{stat['low']:+.2f}, {stat['high']:+.2f}]"


def format_report(summary: dict) -> str:
    """Markdown: the per-arm table, the paired differences, the diagnostics, the pairing check."""
    names, arms, ref = summary["metrics"], summary["arms"], summary["reference"]
    level = f"{100 * summary['confidence']:.0f}%"
    rows = [[arm, len(a["seeds"])] + [_fmt(a["metrics"].get(n)) for n in names] for arm, a in arms.items()]
    text = [tabulate(rows, headers=["arm", "seeds"] + [f"{n} (mean ± std)" for n in names], tablefmt="github"), ""]
    rows = [[arm] + [_fmt(a["fit"][key], 1) for key in FIT_COLUMNS] for arm, a in arms.items()]
    text += ["Training accuracy of the identity classifier (%, mean ± std over seeds): on the whole "
             "training set (unaugmented, eval mode) and on the logged augmented training batches (clean "
             "batches only: an image- or feature-mixed batch logs none):", "",
             tabulate(rows, headers=["arm"] + list(FIT_COLUMNS.values()), tablefmt="github"), ""]
    varying = [n for n in names if not _same_in_every_run(arms, n)]
    rows = [[arm] + [_fmt_ci(a["paired"].get(n)) for n in varying] for arm, a in arms.items() if arm != ref]
    if rows:
        text += [f"Paired difference to `{ref}` (mean over seeds [{level} t-interval]; metrics equal in every "
                 "run, such as a uniform map's purity on the test set, left out):", "",
                 tabulate(rows, headers=["arm"] + [f"Δ {n}" for n in varying], tablefmt="github"), ""]
    diag_arms = [arm for arm, a in arms.items() if a["diagnostics"]]
    if diag_arms:
        keys = list(dict.fromkeys(k for arm in diag_arms for k in arms[arm]["diagnostics"]))
        rows = [[k] + [_fmt(arms[arm]["diagnostics"].get(k), 3) for arm in diag_arms] for k in keys]
        text += ["Training diagnostics (mean over the logged iterations from the mixer's start; mean ± std "
                 "over seeds):", "", tabulate(rows, headers=["scalar"] + diag_arms, tablefmt="github"), ""]
    pairing = summary["pairing"]
    if pairing.get("shared"):
        text += [f"Shared warm-up: {pairing['shared']} runs started from the reference arm's checkpoint at the "
                 "mixer's start (same seed), so their iterations before it are the reference's.", ""]
    if not pairing["compared"]:
        if not pairing.get("shared"):
            text.append("Pairing check: not run (no logged losses before the mixers start).")
    elif pairing["mismatches"]:
        text.append(f"Pairing check FAILED: {len(pairing['mismatches'])} of {pairing['compared']} logged "
                    "losses before the mixers start differ from the reference arm's, e.g. "
                    + "; ".join(pairing["mismatches"][:3]))
    else:
        text.append(f"Pairing check: all {pairing['compared']} logged losses before the mixers start equal "
                    "the reference arm's (same weights, batches and losses).")
    return "\n".join(text) + "\n"


def _same_in_every_run(arms: dict, name: str) -> bool:
    """Whether metric `name` has one value in every run of every arm: a property of the test data
    (a uniform map's purity), whose paired differences are all 0."""
    values = {v for a in arms.values() if name in a["metrics"] for v in a["metrics"][name]["values"].values()}
    return len(values) == 1


def write_report(output_dir: str, summary: dict, runs: Dict[str, Dict[int, dict]], header: str) -> str:
    """compare.md, compare.json (the summary) and runs.csv (one row per run) in `output_dir`."""
    os.makedirs(output_dir, exist_ok=True)
    text = header + "\n\n" + format_report(summary)
    with open(os.path.join(output_dir, "compare.md"), "w") as f:
        f.write(text)
    with open(os.path.join(output_dir, "compare.json"), "w") as f:
        json.dump(summary, f, indent=2)
    columns = list(dict.fromkeys(
        [f"metric:{m}" for m in summary["metrics"]] + [f"fit:{k}" for k in FIT_COLUMNS]
        + [f"diag:{k}" for by_seed in runs.values() for r in by_seed.values() for k in r["diagnostics"]]))
    with open(os.path.join(output_dir, "runs.csv"), "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["arm", "seed"] + columns)
        for arm, by_seed in runs.items():
            for seed, r in sorted(by_seed.items()):
                flat = {**{f"metric:{k}": v for k, v in r["metrics"].items()},
                        **{f"fit:{k}": v for k, v in r["fit"].items()},
                        **{f"diag:{k}": v for k, v in r["diagnostics"].items()}}
                writer.writerow([arm, seed] + ["" if flat.get(c) is None else flat[c] for c in columns])
    return text


# ---------------------------------------------------------------------------- running


def run_state(run_dir: str) -> str:
    """"finished" (final evaluation logged), "unevaluated" (trained to the end, final
    evaluation missing: the process stopped during it) or "incomplete"."""
    metrics = os.path.join(run_dir, "metrics.json")
    if not os.path.isfile(os.path.join(run_dir, "model_final.pth")):
        return "incomplete"
    if os.path.isfile(metrics) and final_evaluation(metrics_by_iteration(metrics)) is not None:
        return "finished"
    return "unevaluated"


def _config_id(config: str) -> str:
    """The config's path relative to the repository when it lies inside (so that a comparison
    continues from another checkout of the repository), else absolute."""
    path = os.path.abspath(config)
    inside = os.path.commonpath([path, REPO_ROOT]) == REPO_ROOT
    return os.path.relpath(path, REPO_ROOT) if inside else path


def _saved_record(run_dir: str, record: dict) -> Optional[dict]:
    """The run's comparison.json, checked against the requested `record` (config, seed,
    overrides); None when the run has not been started."""
    path = os.path.join(run_dir, RUN_RECORD)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        saved = json.load(f)
    asked = {k: record[k] for k in ("config", "seed", "opts")}
    if {k: saved.get(k) for k in asked} != asked:
        raise ValueError(
            f"{run_dir} holds a run of {({k: saved.get(k) for k in asked})}, not the requested {asked}. "
            "Use another --output-dir (or delete that folder) rather than mixing two settings."
        )
    return saved


def _check_record(run_dir: str, record: dict) -> dict:
    """The run's comparison.json, created from `record` or checked against it."""
    saved = _saved_record(run_dir, record)
    if saved is not None:
        return saved
    os.makedirs(run_dir, exist_ok=True)
    _write_record(run_dir, record)
    return record


def _new_record(config: str, seed: int, opts: Sequence[str]) -> dict:
    return {"config": _config_id(config), "seed": seed, "opts": list(opts), "wall_s": 0.0}


def _is_done(record: dict, state: str) -> bool:
    """Whether a run is as `ensure_run` leaves it: final evaluation logged (`state` from
    `run_state`) and training-set accuracies recorded."""
    return state == "finished" and "train_set_acc" in record


def is_finished(config: str, seed: int, run_dir: str, opts: Sequence[str]) -> bool:
    """Whether the (arm, seed) run in `run_dir` is done (`_is_done`), without touching it. A
    folder that holds other settings is an error, as in `ensure_run`."""
    saved = _saved_record(run_dir, _new_record(config, seed, opts))
    return saved is not None and _is_done(saved, run_state(run_dir))


def _write_record(run_dir: str, record: dict) -> None:
    atomic_write_bytes(os.path.join(run_dir, RUN_RECORD), lambda f: f.write(json.dumps(record, indent=2).encode()))


def train_run(config: str, seed: int, run_dir: str, opts: Sequence[str]) -> None:
    """tools/train_net.py --resume in a child process; its output goes to the console."""
    cmd = [sys.executable, TRAIN_NET, "--config-file", config, "--resume",
           "SEED", str(seed), "OUTPUT_DIR", run_dir, *opts]
    logger.info("==> " + " ".join(cmd))
    subprocess.run(cmd, check=True, cwd=REPO_ROOT)


def evaluate_final_model(run_dir: str) -> None:
    """Evaluate model_final.pth of a run whose final evaluation was cut off and log the result
    into its metrics.json at the last training iteration, as the engine would have."""
    from ..evaluation import flatten_results
    from .defaults import DefaultTrainer

    cfg, model, _ = _load_run_model(run_dir, os.path.join(run_dir, "model_final.pth"))
    results = DefaultTrainer.test(cfg, model)
    rows = metrics_by_iteration(os.path.join(run_dir, "metrics.json"))
    last = max(it for it, row in rows.items() if "total_loss" in row)
    with open(os.path.join(run_dir, "metrics.json"), "a") as f:
        row = {"iteration": last, **{f"eval/{k}": v for k, v in flatten_results(results).items()}}
        f.write(json.dumps(row, sort_keys=True) + "\n")


def _load_run_model(run_dir: str, weights: str):
    """(cfg, model in eval mode with `weights`, training dataset) of a run, from its config.yaml."""
    from ..checkpoint import ReidCheckpointer
    from ..config import setup_cfg
    from ..data import build_dataset
    from ..modeling.meta_arch.build import build_model

    cfg = setup_cfg(os.path.join(run_dir, "config.yaml"), freeze=False)
    train_dataset = build_dataset(cfg, cfg.DATASETS.TRAIN)
    if cfg.MODEL.NUM_CLASSES == 0:
        cfg.MODEL.NUM_CLASSES = train_dataset.num_train_pids
    cfg.freeze()
    model = build_model(cfg)
    ReidCheckpointer(model).load(weights, checkpointables=[])
    return cfg, model.eval(), train_dataset


def training_set_accuracy(run_dir: str, weights: str) -> float:
    """Top-1 accuracy (%) of the identity classifier C on every training image, unaugmented,
    with the model in eval mode: how far the checkpoint `weights` has fit its training set. (The
    logged train/id_acc is measured on augmented, partly erased batches and stays lower.)"""
    import torch
    from torch.utils.data import DataLoader

    from ..data.common import ReidImageDataset, collate_batch

    cfg, model, dataset = _load_run_model(run_dir, weights)
    images = ReidImageDataset(dataset.train, cfg.INPUT.SIZE_TEST, decoder=cfg.INPUT.DECODER)
    loader = DataLoader(images, batch_size=int(cfg.TEST.IMS_PER_BATCH), collate_fn=collate_batch,
                        num_workers=int(cfg.DATALOADER.NUM_WORKERS))
    correct = 0
    with torch.no_grad():
        for batch in loader:
            predicted = model.classifier(model(batch)).argmax(dim=1).cpu()
            correct += int((predicted == batch["targets"]).sum())
    return 100.0 * correct / len(images)


def _fit_checkpoints(run_dir: str) -> Dict[str, str]:
    """{"at_mixer_start": the periodic checkpoint saved right before the mixer's first step (when
    it is still on disk), "final": model_final.pth}."""
    with open(os.path.join(run_dir, "config.yaml")) as f:
        schedule = run_schedule(yaml.safe_load(f))
    found = {"final": os.path.join(run_dir, "model_final.pth")}
    if schedule is not None and schedule["mixer_start"] > 0:
        start = os.path.join(run_dir, f"model_{schedule['mixer_start']:07d}.pth")
        if os.path.isfile(start):
            found["at_mixer_start"] = start
    return found


def ensure_run(config: str, seed: int, run_dir: str, opts: Sequence[str], warmup_from: Optional[str] = None) -> None:
    """Bring one (arm, seed) run to "finished": skip, resume, or re-run its final evaluation;
    then measure its training-set accuracy at the mixer's start and at the end
    (`training_set_accuracy`). Both, and the wall time spent here ("wall_s"), go into the run's
    comparison.json. `warmup_from`: a finished run of the same seed whose state at the mixer's
    start a fresh run starts from (`start_from_reference_warmup`); recorded as "warmup_from"."""
    record = _check_record(run_dir, _new_record(config, seed, opts))
    state = run_state(run_dir)
    if _is_done(record, state):
        logger.info(f"{run_dir}: finished, read back")
        return
    start = time.perf_counter()
    if state == "incomplete" and warmup_from is not None and start_from_reference_warmup(run_dir, warmup_from):
        record["warmup_from"] = os.path.relpath(warmup_from, run_dir)
        _write_record(run_dir, record)
        logger.info(f"{run_dir}: starts from the warm-up of {warmup_from}")
    if state == "incomplete":
        train_run(config, seed, run_dir, opts)
    if run_state(run_dir) == "unevaluated":
        logger.info(f"{run_dir}: trained but its final evaluation is missing; evaluating model_final.pth")
        evaluate_final_model(run_dir)
    if run_state(run_dir) != "finished":
        raise RuntimeError(f"{run_dir}: the run ended without a final evaluation; see its log.txt")
    checkpoints = _fit_checkpoints(run_dir)
    record["train_set_acc"] = {}
    if warmup_from is not None and "warmup_from" in record:
        # the same weights as the reference's checkpoint at the mixer's start: read, not measured again
        with open(os.path.join(warmup_from, RUN_RECORD)) as f:
            at_start = json.load(f).get("train_set_acc", {}).get("at_mixer_start")
        if at_start is not None:
            record["train_set_acc"]["at_mixer_start"] = at_start
            checkpoints.pop("at_mixer_start", None)
    record["train_set_acc"].update({name: training_set_accuracy(run_dir, path) for name, path in checkpoints.items()})
    record["wall_s"] = record.get("wall_s", 0.0) + time.perf_counter() - start
    _write_record(run_dir, record)


# Config keys in which two arms may differ and still share the reference's warm-up: what acts
# only once the mixer has started (the mixer's own settings, its losses, a project's mixer
# options) and where the run is written. MODEL.MIXER.START_EPOCH must match.
MIXER_KEYS = ("MODEL.MIXER.", "MODEL.LOSSES.NAMES", "PARTMIX.", "OUTPUT_DIR")


def _flatten(node, prefix=""):
    for key, value in node.items():
        if isinstance(value, dict):
            yield from _flatten(value, f"{prefix}{key}.")
        else:
            yield f"{prefix}{key}", value


def warmup_differences(config: str, reference_config: str, opts: Sequence[str]) -> List[str]:
    """The config keys (with both values) in which `config` differs from `reference_config`
    outside MIXER_KEYS, with `opts` applied to both: empty when the two may share a warm-up."""
    from ..config import setup_cfg

    mine, ref = (dict(_flatten(setup_cfg(c, list(opts), freeze=False))) for c in (config, reference_config))
    keys = sorted(set(mine) | set(ref))
    return [f"{k}: {mine.get(k)!r} vs {ref.get(k)!r}" for k in keys
            if mine.get(k) != ref.get(k) and (k == "MODEL.MIXER.START_EPOCH" or not k.startswith(MIXER_KEYS))]


def start_from_reference_warmup(run_dir: str, reference_dir: str) -> bool:
    """Seed an arm's fresh run folder with the reference run's state at the mixer's start: its
    checkpoint after the last iteration before it (tagged as last_checkpoint, so that `--resume`
    continues from it) and its metrics rows up to that iteration. False (and nothing written) when the
    arm's folder already holds a checkpoint, or the reference has no checkpoint there (mixer from
    iteration 0, or SOLVER.CHECKPOINT_PERIOD not dividing the warm-up)."""
    if os.path.isfile(os.path.join(run_dir, "last_checkpoint")):
        return False
    with open(os.path.join(reference_dir, "config.yaml")) as f:
        schedule = run_schedule(yaml.safe_load(f))
    if schedule is None or schedule["mixer_start"] <= 0:
        return False
    start = schedule["mixer_start"]
    checkpoint = f"model_{start:07d}.pth"
    if not os.path.isfile(os.path.join(reference_dir, checkpoint)):
        return False
    with open(os.path.join(reference_dir, checkpoint), "rb") as source:
        atomic_write_bytes(os.path.join(run_dir, checkpoint), lambda f: shutil.copyfileobj(source, f))
    rows = []
    with open(os.path.join(reference_dir, "metrics.json")) as f:
        for line in f:
            if line.strip() and json.loads(line).get("iteration", start + 1) <= start:
                rows.append(line if line.endswith("\n") else line + "\n")
    atomic_write_bytes(os.path.join(run_dir, "metrics.json"), lambda f: f.write("".join(rows).encode()))
    # written last: a stop before this leaves a folder that is seeded again next time
    atomic_write_bytes(os.path.join(run_dir, "last_checkpoint"), lambda f: f.write(checkpoint.encode()))
    return True


def run_comparison(configs: Sequence[str], seeds: Sequence[int], output_dir: str, opts: Sequence[str] = (),
                   reference: Optional[str] = None, group: Optional[str] = None,
                   metrics: Sequence[str] = ("Rank-1", "mAP"), confidence: float = 0.95,
                   command: str = "", share_warmup: bool = False, report_only: bool = False) -> dict:
    """Train every (config, seed) pair that is not finished, seed by seed (the reference arm
    first), then summarise and write the report into `output_dir`. `reference` names the arm
    the others are compared with (default: the first config); `group` the result group to report
    (default: the first, alphabetically, that has metrics[0]); `share_warmup` starts the other
    arms from the reference's checkpoint at the mixer's start (module docstring). `report_only`
    trains nothing and reports the seeds finished in every arm so far (complete pairs, so that
    every arm's mean covers the same seeds), naming the seeds left out: a look at a comparison
    that is still running. Returns the summary."""
    names = [arm_name(c) for c in configs]
    if len(set(names)) != len(names):
        raise ValueError(f"two configs share a file name (the arm's name): {names}")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds repeat: {list(seeds)}")
    if len(opts) % 2:
        raise ValueError(f"overrides must be KEY VALUE pairs, got {list(opts)}")
    fixed = {"SEED", "OUTPUT_DIR"} & set(opts[0::2])
    if fixed:
        raise ValueError(f"the comparison sets {sorted(fixed)} for every run itself; remove it from the overrides")
    reference = reference or names[0]
    if reference not in names:
        raise ValueError(f"reference arm {reference!r} is none of the arms {names}")
    reference_config = configs[names.index(reference)]
    if share_warmup and not report_only:
        for config in configs:
            differences = warmup_differences(config, reference_config, opts)
            if differences:
                raise ValueError(f"{config} cannot share the warm-up of {reference_config}: they differ before "
                                 f"the mixer starts in {differences}. Run without sharing the warm-up.")
    order = sorted(zip(configs, names), key=lambda arm: arm[1] != reference)
    runs: Dict[str, Dict[int, dict]] = {name: {} for name in names}
    reported, left_out = [], []
    for seed in seeds:
        run_dirs = {name: os.path.join(output_dir, name, f"seed{seed}") for name in names}
        if report_only:
            if not all(is_finished(config, seed, run_dirs[name], opts) for config, name in order):
                left_out.append(seed)
                continue
        else:
            for config, name in order:
                shared = share_warmup and name != reference
                ensure_run(config, seed, run_dirs[name], opts, warmup_from=run_dirs[reference] if shared else None)
        for _, name in order:
            runs[name][seed] = summarise_run(run_dirs[name], group, metrics)
            group = group or runs[name][seed]["group"]
        reported.append(seed)
    if not reported:
        raise ValueError(f"no seed of {list(seeds)} has finished in every arm of {output_dir} yet: nothing to report")
    summary = summarise(runs, reference, confidence)
    summary.update(group=group, seeds=reported, seeds_left_out=left_out, opts=list(opts), configs=list(configs),
                   wall_s={name: {seed: _read_wall(os.path.join(output_dir, name, f"seed{seed}"))
                                  for seed in reported} for name in names})
    header = (f"Result group `{group}`, seeds {reported}, overrides `{' '.join(opts) or '(none)'}`"
              + (f"\n\nInterim report: seeds {left_out} are left out (not finished in every arm yet)."
                 if left_out else "")
              + (f"\n\nCommand: `{command}`" if command else ""))
    text = write_report(output_dir, summary, runs, header)
    print(text, flush=True)
    return summary


def _read_wall(run_dir: str) -> Optional[float]:
    with open(os.path.join(run_dir, RUN_RECORD)) as f:
        return json.load(f).get("wall_s")
