#!/usr/bin/env python
"""Train several configs ("arms") with the same seeds and overrides, then report per arm the mean
± std over seeds of the result metrics (and of any part-discovery metrics, eval/part*), the
training accuracy when the mixers start and at the end, the mean training diagnostics (e.g.
partmix/*), and every arm's paired difference to the reference arm with a t-interval.

    python tools/compare_mixers.py --configs a.yaml b.yaml --seeds 0 1 2 3 4 --output-dir output/cmp
    python tools/compare_mixers.py --configs a.yaml b.yaml --seeds 0 1 SOLVER.MAX_EPOCHS 4   # overrides
    python tools/compare_mixers.py --configs a.yaml b.yaml --output-dir output/cmp --report-only  # so far

Each run is `python -m partreid.engine.train_net --resume` in its own process and folder (OUTPUT_DIR/<arm>/seed<k>):
an interrupted comparison continues where it stopped, and finished runs are only read back.
--share-warmup trains the iterations before the mixer's start once per seed, in the reference arm; it
is refused for an arm that does anything else than the reference before its mixer starts (its
probed losses over the first --warmup-check-iters steps, its learning rates or its mixer's start differ).
Writes OUTPUT_DIR/compare.md, compare.json and runs.csv (see partreid/lab/).
The PartMix project's default arms and regime: projects/PartMix/tools/compare_synthvi.py.
"""
import argparse
import logging
import shlex
import sys

from partreid.lab import run_comparison
from partreid.utils.cli import run_tool


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--configs", nargs="+", required=True, help="YAML configs, one per arm (arm name = file name)")
    p.add_argument("--reference", default=None, help="arm the others are compared with (default: the first config)")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4], help="SEED values; every arm runs each")
    p.add_argument("--output-dir", default="output/compare_mixers")
    p.add_argument("--group", default=None,
                   help="result group to report (default: the first, in natural order (1shot before 10shot), that has the first metric)")
    p.add_argument("--metrics", nargs="+", default=["Rank-1", "mAP"], help="metrics of the group to report")
    p.add_argument("--confidence", type=float, default=0.95, help="level of the paired t-intervals")
    p.add_argument("--share-warmup", action="store_true",
                   help="start the other arms from the reference's checkpoint at the mixer's start instead of "
                        "repeating the iterations before it (only for arms that do what the reference does until then)")
    p.add_argument("--warmup-check-iters", type=int, default=5,
                   help="with --share-warmup: training steps each arm and the reference are probed for (equal losses)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: report the seeds finished in every arm so far (e.g. while the comparison "
                        "runs in the background), naming the seeds left out")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides applied to every run")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join(shlex.quote(a) for a in ["python", "tools/compare_mixers.py", *argv])
    return run_comparison(args.configs, args.seeds, args.output_dir, args.opts, reference=args.reference,
                          group=args.group, metrics=args.metrics, confidence=args.confidence, command=command,
                          share_warmup=args.share_warmup, report_only=args.report_only,
                          warmup_check_iters=args.warmup_check_iters)


if __name__ == "__main__":
    run_tool(main)
