"""One (arm, seed) run of a comparison: its record (comparison.json), training it in a child
process, resuming it, evaluating it again when its final evaluation was cut off, starting it
from the reference's warm-up, and reading its numbers back from metrics.json.

A run can be stopped and started again: finished runs are read back, interrupted ones resume
from their last checkpoint, and a run whose final evaluation was cut off is evaluated again from
model_final.pth. Each run folder records its config and overrides in comparison.json; asking for
other settings in the same folder is an error, so one output folder never mixes two regimes.
"""
import json
import logging
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from typing import Dict, Optional, Sequence

import yaml

from ..checkpoint import atomic_write_bytes
from ..utils.events import read_metrics

logger = logging.getLogger(__name__)

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
    "diagnostics" (mean of every other namespaced scalar, e.g. a mixer's own mymix/*, from the
    mixer's start on); "losses" ({iteration: total_loss} before the mixer starts, for the pairing check) and
    "shared_warmup" (whether those came from the reference run: `start_from_reference_warmup`)."""
    rows = metrics_by_iteration(os.path.join(run_dir, "metrics.json"))
    evaluation = final_evaluation(rows)
    if evaluation is None:
        raise RuntimeError(f"{run_dir}/metrics.json holds no final evaluation")
    groups = sorted({key.split("/", 1)[0] for key in evaluation}, key=natural_order)
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


def natural_order(name: str) -> list:
    """Sort key that compares the numbers inside names as numbers: all_search_1shot before
    all_search_10shot."""
    return [(0, int(part), "") if part.isdigit() else (1, 0, part) for part in re.split(r"(\d+)", name)]


def _is_part_summary(key: str) -> bool:
    """A whole-model metric of a part-discovery group ("part_discovery/coverage"): per-map
    entries ("part_discovery/map2/purity") are left out, since map m of one run has nothing to
    do with map m of another."""
    group, _, metric = key.partition("/")
    return group.startswith("part") and "/" not in metric and not metric.endswith("_std")


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
    """The config's path relative to the working directory when it lies inside (so that a
    comparison started from a checkout's root continues from another checkout), else absolute."""
    path, here = os.path.abspath(config), os.getcwd()
    inside = os.path.commonpath([path, here]) == here
    return os.path.relpath(path, here) if inside else path


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
    """`python -m partreid.engine.train_net --resume` in a child process (the installed package's
    entry point, so that it works outside a checkout too); its output goes to the console."""
    cmd = [sys.executable, "-m", "partreid.engine.train_net", "--config-file", config, "--resume",
           "SEED", str(seed), "OUTPUT_DIR", run_dir, *opts]
    logger.info("==> " + " ".join(cmd))
    subprocess.run(cmd, check=True)


def evaluate_final_model(run_dir: str) -> None:
    """Evaluate model_final.pth of a run whose final evaluation was cut off and log the result
    into its metrics.json at the last training iteration, as the engine would have."""
    from ..engine import DefaultTrainer
    from ..evaluation import flatten_results

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


