"""The numbers a comparison reports: per-arm means and standard deviations over seeds, paired
differences to the reference arm with t-intervals, and the pairing check (every arm logged the
reference's losses before the mixers start)."""
import math
import statistics
from typing import Dict, List, Sequence

from scipy import stats as scipy_stats

from .runs import FIT_COLUMNS


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


