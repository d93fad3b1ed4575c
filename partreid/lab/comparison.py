"""`run_comparison`: every arm trained at every seed (partreid.lab.runs), summarised
(partreid.lab.statistics) and reported (partreid.lab.report).

The report checks the pairing: until the mixers start (MODEL.MIXER.START_EPOCH) every arm's
logged losses must equal the reference arm's.

With `share_warmup`, the arms other than the reference do not repeat those identical iterations:
each starts from a copy of the reference's checkpoint at the mixer's start (same seed), with the
reference's metrics rows before it, and trains on from there under its own config. The result
is the one a full run gives (tests/lab/test_comparison.py checks it bit for bit), at a cost of
(1 + (arms - 1) * (1 - start / total)) runs per seed instead of `arms`. Whether an arm may share
is decided from what it does before its mixer starts (partreid.lab.warmup), and the comparison
is refused when one may not; the pairing check then has nothing left to compare for the shared
runs, and the report says so.

Seeds are the outer loop: a comparison stopped part-way leaves complete pairs for its first
seeds.
"""
import json
import os
from typing import Dict, Optional, Sequence

from .report import write_report
from .runs import RUN_RECORD, arm_name, ensure_run, is_finished, summarise_run
from .statistics import summarise
from .warmup import run_probe, warmup_mismatch


def run_comparison(configs: Sequence[str], seeds: Sequence[int], output_dir: str, opts: Sequence[str] = (),
                   reference: Optional[str] = None, group: Optional[str] = None,
                   metrics: Sequence[str] = ("Rank-1", "mAP"), confidence: float = 0.95,
                   command: str = "", share_warmup: bool = False, report_only: bool = False,
                   warmup_check_iters: int = 5) -> dict:
    """Train every (config, seed) pair that is not finished, seed by seed (the reference arm
    first), then summarise and write the report into `output_dir`. `reference` names the arm
    the others are compared with (default: the first config); `group` the result group to report
    (default: the first, in natural order (1shot before 10shot), that has metrics[0]); `share_warmup` starts the other
    arms from the reference's checkpoint at the mixer's start (module docstring), once
    partreid.lab.warmup has found, over `warmup_check_iters` probed steps, that they do what
    the reference does until then. `report_only`
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
        probes = os.path.join(output_dir, "warmup_probes")
        reference_probe = run_probe(reference_config, seeds[0], opts, os.path.join(probes, reference),
                                    warmup_check_iters)
        for config, name in zip(configs, names):
            if name == reference:
                continue
            reason = warmup_mismatch(run_probe(config, seeds[0], opts, os.path.join(probes, name),
                                               warmup_check_iters), reference_probe)
            if reason:
                raise ValueError(f"{config} cannot share the warm-up of {reference_config}: {reason} (seed "
                                 f"{seeds[0]}). Run without sharing the warm-up.")
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
