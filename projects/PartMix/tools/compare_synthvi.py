#!/usr/bin/env python
"""PartMix against the baseline and the other regularisers on SynthVI, paired over seeds.

    python projects/PartMix/tools/compare_synthvi.py --split val     # choose settings on validation ids
    python projects/PartMix/tools/compare_synthvi.py --split test    # the reported comparison
    python projects/PartMix/tools/compare_synthvi.py --split test --report-only   # the seeds done so far

Arms (one YAML each in projects/PartMix/configs, the first is the reference): the baseline,
PartMix, PartMix with random mining, CutMix, MixUp, Manifold MixUp. Every arm runs every seed in
the REGIME below, sized for a 2-core CPU (6 arms x 5 seeds in 1.8 to 3.3 hours on a quiet one,
by CPU: the arms share the baseline's iterations before the mixers start).
--split val trains on SynthVI's train identities and tests on its validation identities
(dataset SynthVIVal); --split test trains on train + val and tests on the test identities.
Extra KEY VALUE overrides after the options apply to every run (and change the output folder's
contents, so give such a run its own --output-dir). Runs are resumable: run the same command
again after an interruption. Report: OUTPUT_DIR/compare.md, compare.json, runs.csv.
"""
import argparse
import logging
import os
import shlex
import sys

from partreid.lab import run_comparison

CONFIG_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "configs")
ARMS = ["baseline", "partmix", "partmix_random", "cutmix", "mixup", "manifold_mixup"]
# Arms that only --arms runs: the baseline without the part-discovery keys of commit 87b4bc3
# (what they cost the baseline's retrieval; it differs before the mixers, so with
# --no-share-warmup).
EXTRA_ARMS = ["baseline_pinned_maps"]
# The comparison regime (on top of Base-SynthVI.yaml): 12 epochs x 50 iterations = 600 iterations
# of 32 images; the baseline alone for the first half (the mixers from epoch 6, iteration 300, once
# the identities are mostly fit; the training-set accuracy there is in the report), LR x0.1 from
# epoch 9; one evaluation at the end; a checkpoint every 6 epochs (the weights at the mixers'
# start, which the other arms start from: --no-share-warmup trains them from iteration 0
# instead); scalars and PartMix diagnostics every 10 iterations. Per seed: 600 + 5 x 300
# iterations: 22 minutes on a 2-core Intel Xeon (0.5 s per iteration), 39 on a 2-core AMD EPYC.
REGIME = [
    "SOLVER.MAX_EPOCHS", "12", "SOLVER.STEPS", "[9]", "MODEL.MIXER.START_EPOCH", "6",
    "TEST.EVAL_PERIOD", "0", "SOLVER.CHECKPOINT_PERIOD", "6", "SOLVER.LOG_PERIOD", "10",
    "PARTMIX.DIAGNOSTICS_PERIOD", "10",
]
SPLITS = {
    "val": ["DATASETS.TRAIN", "SynthVIVal", "DATASETS.TEST", "SynthVIVal"],
    "test": ["DATASETS.TRAIN", "SynthVI", "DATASETS.TEST", "SynthVI"],
}


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", choices=sorted(SPLITS), required=True,
                   help="val: test on the validation identities (choosing settings); test: the report")
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2, 3, 4])
    p.add_argument("--arms", nargs="+", choices=ARMS + EXTRA_ARMS, default=ARMS,
                   help="a subset of the arms (the first is the reference)")
    p.add_argument("--output-dir", default=None, help="default: output/partmix_comparison/<split>")
    p.add_argument("--no-share-warmup", dest="share_warmup", action="store_false",
                   help="train every arm from iteration 0 (default: the arms start from the baseline's "
                        "checkpoint at the mixers' start, which gives the same result; this checks the pairing)")
    p.add_argument("--report-only", action="store_true",
                   help="train nothing: report the seeds finished in every arm so far (e.g. while the comparison "
                        "runs in the background), naming the seeds left out")
    p.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides applied to every run")
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    configs = [os.path.join(CONFIG_DIR, f"synthvi_{arm}.yaml") for arm in args.arms]
    output_dir = args.output_dir or os.path.join("output", "partmix_comparison", args.split)
    argv = sys.argv[1:] if argv is None else argv
    command = " ".join(shlex.quote(a) for a in ["python", "projects/PartMix/tools/compare_synthvi.py", *argv])
    return run_comparison(configs, args.seeds, output_dir, REGIME + SPLITS[args.split] + args.opts,
                          group="all_search_1shot", metrics=("Rank-1", "mAP"), command=command,
                          share_warmup=args.share_warmup, report_only=args.report_only)


if __name__ == "__main__":
    main()
