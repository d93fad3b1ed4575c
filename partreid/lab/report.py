"""The comparison's report: compare.md (Markdown tables), compare.json (the summary) and runs.csv
(one row per run)."""
import csv
import json
import math
import os
from typing import Dict, Optional

from tabulate import tabulate

from .runs import FIT_COLUMNS


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


