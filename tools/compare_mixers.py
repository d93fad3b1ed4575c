#!/usr/bin/env python
"""Train several configs (by default: the baseline and every mixer on SynthVI) with the same
seeds and budget, then print one table of Rank-1 / mAP (mean ± std over seeds).

    python tools/compare_mixers.py --seeds 0 1 2
    python tools/compare_mixers.py --configs a.yaml b.yaml --seeds 0 --output-dir output/cmp SOLVER.MAX_EPOCHS 4

Each run is `tools/train_net.py --resume` in its own process and folder
(OUTPUT_DIR/<config name>/seed<k>), so an interrupted comparison continues where it
stopped and finished runs are not trained again. Results are read back from each run's
metrics.json (its last evaluation) and written to OUTPUT_DIR/compare.json and compare.md.
"""
import argparse
import json
import os
import statistics
import subprocess
import sys

from tabulate import tabulate

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEFAULT_CONFIGS = [
    os.path.join(REPO, "projects", "PartMix", "configs", f"synthvi_{name}.yaml")
    for name in ("baseline", "mixup", "manifold_mixup", "cutmix", "partmix")
]
METRICS = ("Rank-1", "mAP", "mINP")


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", default=DEFAULT_CONFIGS, help="YAML configs to compare")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2], help="SEED values; every config runs each")
    p.add_argument("--output-dir", default="output/compare_mixers")
    p.add_argument("--group", default="", help="result group to report (default: the evaluator's primary group)")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides applied to every run")
    return p.parse_args(argv)


def last_evaluation(metrics_file):
    """{group: {metric: value}} of the last evaluation written to a run's metrics.json."""
    last = None
    with open(metrics_file) as f:
        for line in f:
            row = json.loads(line)
            evals = {k[len("eval/"):]: v for k, v in row.items() if k.startswith("eval/")}
            if evals:
                last = evals
    if last is None:
        raise RuntimeError(f"{metrics_file} holds no evaluation: did the run finish?")
    results = {}
    for key, value in last.items():
        group, metric = key.split("/", 1)
        results.setdefault(group, {})[metric] = value
    return results


def run_one(config, seed, out_dir, opts):
    cmd = [sys.executable, os.path.join(REPO, "tools", "train_net.py"), "--config-file", config, "--resume",
           "SEED", str(seed), "OUTPUT_DIR", out_dir, *opts]
    print(f"==> {' '.join(cmd)}", flush=True)
    subprocess.run(cmd, check=True)


def summarise(per_run, group):
    """Rows of (config, metric mean ± std over seeds) for one result group."""
    rows, table = [], {}
    for name, by_seed in per_run.items():
        stats = {}
        for metric in METRICS:
            values = [res[group][metric] for res in by_seed.values()]
            std = statistics.stdev(values) if len(values) > 1 else 0.0
            stats[metric] = {"mean": statistics.fmean(values), "std": std, "values": values}
        table[name] = stats
        rows.append([name, len(by_seed)] + [f"{stats[m]['mean']:.2f} ± {stats[m]['std']:.2f}" for m in METRICS])
    return rows, table


def main(argv=None):
    args = parse_args(argv)
    per_run = {}
    for config in args.configs:
        name = os.path.splitext(os.path.basename(config))[0]
        per_run[name] = {}
        for seed in args.seeds:
            out_dir = os.path.join(args.output_dir, name, f"seed{seed}")
            run_one(config, seed, out_dir, args.opts)
            per_run[name][seed] = last_evaluation(os.path.join(out_dir, "metrics.json"))
    first = next(iter(next(iter(per_run.values())).values()))
    group = args.group or next(iter(first))
    rows, table = summarise(per_run, group)
    headers = ["config", "seeds"] + [f"{m} (mean ± std)" for m in METRICS]
    text = tabulate(rows, headers=headers, tablefmt="github")
    print(f"\nSynthVI comparison, group '{group}', seeds {args.seeds}:\n{text}")
    os.makedirs(args.output_dir, exist_ok=True)
    with open(os.path.join(args.output_dir, "compare.json"), "w") as f:
        json.dump({"group": group, "seeds": args.seeds, "opts": args.opts, "results": table}, f, indent=2)
    with open(os.path.join(args.output_dir, "compare.md"), "w") as f:
        f.write(f"Group `{group}`, seeds {args.seeds}, overrides `{' '.join(args.opts)}`\n\n{text}\n")
    return table


if __name__ == "__main__":
    main()
