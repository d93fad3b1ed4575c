#!/usr/bin/env python
"""RegDB's protocol in one command: one model per split trial (1..10), then the mean and std
over the trials for both search directions.

    python tools/regdb_trials.py --config-file projects/PartMix/configs/regdb_partmix.yaml
    python tools/regdb_trials.py --config-file CFG --resume          # continue an interrupted trial
    python tools/regdb_trials.py --config-file CFG --eval-only       # re-evaluate every trial's model_final.pth
    python tools/regdb_trials.py --eval-only OUTPUT_DIR out/regdb    # the same, each trial with its own config.yaml
    python tools/regdb_trials.py --config-file CFG --trials 1-3,7 TEST.FLIP_FEATURES True

Trial k trains in OUTPUT_DIR/trial_<k> with DATASETS.REGDB_TRIAL k, in this process and through
the same engine as tools/train_net.py. After its final evaluation, a trial's results go to
trial_<k>/results.json: a trial folder with that file and model_final.pth is finished, and a
later run skips it. --resume continues an interrupted trial from its last checkpoint (without
it, a trial folder holding checkpoints is refused unless --overwrite, as in tools/train_net.py). --eval-only evaluates
trial_<k>/model_final.pth of every selected trial (or MODEL.WEIGHTS with a "{trial}" placeholder,
e.g. out/trial_{trial}/model_best.pth) and rewrites its results.json; without --config-file it
builds each trial's model from that trial's config.yaml, the config it was trained with, and
needs OUTPUT_DIR (the folder of the trial_<k> folders). The summary (per trial,
and mean and population std over the trials) goes to OUTPUT_DIR/regdb_trials.json and
regdb_trials.md, and is printed.
"""
import argparse
import json
import logging
import os
from collections import OrderedDict

from tabulate import tabulate

from partreid.checkpoint import atomic_write_bytes
from partreid.checkpoint.run_config import RUN_CONFIG_NAME
from partreid.data.datasets.regdb import NUM_TRIALS
from partreid.engine import DefaultTrainer, default_argument_parser, default_setup, launch, setup_cfg
from partreid.evaluation.evaluator import summarize_trials
from partreid.utils import comm
from partreid.utils.cli import run_tool
from partreid.utils.errors import ConfigError
from partreid.utils.logger import setup_logger

logger = logging.getLogger("partreid.regdb_trials")

RESULTS_FILE = "results.json"
FINAL_WEIGHTS = "model_final.pth"
SUMMARY_NAME = "regdb_trials"
TRIAL_PLACEHOLDER = "{trial}"
TABLE_METRICS = ("Rank-1", "Rank-10", "Rank-20", "mAP", "mINP")
SHORT_GROUP_NAMES = {"visible_to_thermal": "V->T", "thermal_to_visible": "T->V"}


def parse_trials(text: str):
    """"1-10", "1,3,5-7" -> sorted trial numbers within 1..NUM_TRIALS."""
    trials = set()
    for part in text.split(","):
        first, dash, last = part.strip().partition("-")
        try:
            low, high = int(first), int(last if dash else first)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"--trials {text!r}: expected trials and ranges such as 1-10 or 1,3,5-7") from None
        if not 1 <= low <= high <= NUM_TRIALS:
            raise argparse.ArgumentTypeError(f"--trials {text!r}: RegDB's trials are 1..{NUM_TRIALS}")
        trials.update(range(low, high + 1))
    return sorted(trials)


def argument_parser():
    parser = default_argument_parser("Train or re-evaluate RegDB's split trials and average them")
    parser.description, parser.epilog = __doc__, None
    parser.add_argument("--trials", type=parse_trials, default=list(range(1, NUM_TRIALS + 1)), metavar="LIST",
                        help=f"trials to run, e.g. 1-{NUM_TRIALS} (default) or 1,3,5-7")
    return parser


def check_config(cfg, config_file: str, args) -> None:
    if (cfg.DATASETS.TRAIN, cfg.DATASETS.TEST) != ("RegDB", "RegDB"):
        raise ConfigError(f"tools/regdb_trials.py needs DATASETS.TRAIN and DATASETS.TEST RegDB; {config_file} "
                         f"gives {cfg.DATASETS.TRAIN!r} and {cfg.DATASETS.TEST!r}")
    if "DATASETS.REGDB_TRIAL" in args.opts[0::2]:
        raise ConfigError("DATASETS.REGDB_TRIAL is set per trial by tools/regdb_trials.py: choose trials with --trials")
    if args.eval_only and cfg.MODEL.WEIGHTS and TRIAL_PLACEHOLDER not in cfg.MODEL.WEIGHTS:
        raise ConfigError(
            f"--eval-only with MODEL.WEIGHTS {cfg.MODEL.WEIGHTS} would score one model on every split, but each "
            "RegDB trial has its own model (its test identities are other trials' training identities). Leave "
            f"MODEL.WEIGHTS empty (each trial's {FINAL_WEIGHTS}) or name them with a {TRIAL_PLACEHOLDER} placeholder."
        )


def trial_config_file(args, trial_dir: str) -> str:
    """--config-file, or (--eval-only without it) the trial's own config.yaml."""
    if args.config_file:
        return args.config_file
    path = os.path.join(trial_dir, RUN_CONFIG_NAME)
    if not os.path.isfile(path):
        raise ConfigError(f"--eval-only without --config-file reads each trial's {RUN_CONFIG_NAME}, and {path} does not "
                          "exist: train that trial first, choose others with --trials, or give --config-file")
    return path


def base_config(args, trial_dir: str, *extra_opts):
    """The config a trial starts from. A trial's config.yaml records in MODEL.WEIGHTS what its
    training started from, not what to evaluate: that is cleared unless the overrides give it."""
    opts = [*args.opts, *extra_opts] if args.config_file else ["MODEL.WEIGHTS", "", *args.opts, *extra_opts]
    return setup_cfg(trial_config_file(args, trial_dir), opts, freeze=False)


def trial_config(args, trial: int, trial_dir: str):
    cfg = base_config(args, trial_dir, "DATASETS.REGDB_TRIAL", str(trial), "OUTPUT_DIR", trial_dir)
    if TRIAL_PLACEHOLDER in cfg.MODEL.WEIGHTS:
        cfg.MODEL.WEIGHTS = cfg.MODEL.WEIGHTS.replace(TRIAL_PLACEHOLDER, str(trial))
    elif args.eval_only:
        cfg.MODEL.WEIGHTS = os.path.join(trial_dir, FINAL_WEIGHTS)
    return cfg


def is_finished(trial_dir: str) -> bool:
    return all(os.path.isfile(os.path.join(trial_dir, name)) for name in (FINAL_WEIGHTS, RESULTS_FILE))


def run_trial(cfg, args):
    """Train one trial to its end (or evaluate its weights with --eval-only); its last results."""
    default_setup(cfg, args, write_config=not args.eval_only)  # a trial's config.yaml is its training record
    if args.eval_only:
        return DefaultTrainer.evaluate_weights(cfg)
    cfg.freeze()
    trainer = DefaultTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    # resumed from its final checkpoint, it trains nothing and evaluates only if that is not recorded
    return trainer.train()


def write_json(path: str, content) -> None:
    atomic_write_bytes(path, lambda f: f.write(json.dumps(content, indent=2).encode()))


def summarize(per_trial, config_file: str):
    """{trials, complete, mean_std: {group: {metric, metric_std}}, per_trial} over the trials' shared
    groups (the search directions, primary first)."""
    trials = sorted(per_trial)
    groups = [g for g in per_trial[trials[0]] if all(g in per_trial[t] for t in trials)]
    mean_std = OrderedDict()
    for group in groups:
        numbers = [{k: v for k, v in per_trial[t][group].items()
                    if isinstance(v, (int, float)) and not k.endswith("_std")} for t in trials]
        mean_std[group] = summarize_trials(numbers)
    return {
        "dataset": "RegDB",
        "config_file": config_file,
        "trials": trials,
        "complete": trials == list(range(1, NUM_TRIALS + 1)),
        "std": "population std over trials",
        "mean_std": mean_std,
        "per_trial": {str(t): per_trial[t] for t in trials},
    }


def summary_table(summary) -> str:
    """Markdown: one row per trial, then the mean and std, TABLE_METRICS of every direction."""
    groups = list(summary["mean_std"])
    headers = ["trial"] + [f"{SHORT_GROUP_NAMES.get(g, g)} {m}" for g in groups for m in TABLE_METRICS]

    def row(label, values_of):
        return [label] + [values_of(g).get(m, "") for g in groups for m in TABLE_METRICS]

    rows = [row(t, lambda g, t=t: summary["per_trial"][str(t)][g]) for t in summary["trials"]]
    rows.append(row("mean", lambda g: summary["mean_std"][g]))
    if len(summary["trials"]) > 1:
        rows.append(row("std", lambda g: {m: summary["mean_std"][g][f"{m}_std"] for m in TABLE_METRICS
                                           if f"{m}_std" in summary["mean_std"][g]}))
    title = (f"RegDB, {len(summary['trials'])} of {NUM_TRIALS} split trials ({summary['config_file']}); "
             "std: population std over trials")
    return title + "\n\n" + tabulate(rows, headers=headers, tablefmt="pipe", floatfmt=".2f") + "\n"


def output_dir_of(args) -> str:
    """OUTPUT_DIR: from --config-file and the overrides, or (--eval-only without --config-file) the
    overrides alone."""
    if args.config_file:
        return setup_cfg(args.config_file, args.opts, freeze=False).OUTPUT_DIR
    if not args.eval_only:
        raise ConfigError("tools/regdb_trials.py needs --config-file to train (the RegDB config every trial trains "
                          "with); --eval-only may take each trial's config.yaml instead")
    values = [args.opts[i + 1] for i in range(0, len(args.opts) - 1, 2) if args.opts[i] == "OUTPUT_DIR"]
    if not values:
        raise ConfigError("--eval-only without --config-file needs OUTPUT_DIR, the folder that holds the trial_<k> "
                          "folders (e.g. OUTPUT_DIR output/partmix/regdb_partmix)")
    return values[-1]


def main(args):
    output_dir = output_dir_of(args)
    trial_dirs = {t: os.path.join(output_dir, f"trial_{t}") for t in args.trials}
    for trial_dir in trial_dirs.values():  # every trial's own config when those are the ones used
        check_config(base_config(args, trial_dir), trial_config_file(args, trial_dir), args)
        if args.config_file:
            break
    if args.eval_only:
        missing = [w for w in (trial_config(args, t, d).MODEL.WEIGHTS for t, d in trial_dirs.items())
                   if not os.path.isfile(w)]
        if missing:
            raise FileNotFoundError(f"--eval-only: no weights at {', '.join(missing)}; train those trials first "
                                    "(without --eval-only) or choose others with --trials")
    per_trial = OrderedDict()
    for trial, trial_dir in trial_dirs.items():
        setup_logger(output_dir, distributed_rank=comm.get_rank())
        if not args.eval_only and is_finished(trial_dir):
            logger.info(f"Trial {trial}: finished in {trial_dir}, skipped")
            with open(os.path.join(trial_dir, RESULTS_FILE)) as f:
                per_trial[trial] = json.load(f)["results"]
            continue
        logger.info(f"Trial {trial}: {'evaluating' if args.eval_only else 'training'} in {trial_dir}")
        cfg = trial_config(args, trial, trial_dir)
        results = run_trial(cfg, args)
        if comm.is_main_process():
            weights = cfg.MODEL.WEIGHTS if args.eval_only else os.path.join(trial_dir, FINAL_WEIGHTS)
            write_json(os.path.join(trial_dir, RESULTS_FILE),
                       {"trial": trial, "weights": weights, "eval_only": args.eval_only, "results": results})
        per_trial[trial] = results
        comm.synchronize()
    setup_logger(output_dir, distributed_rank=comm.get_rank())
    if not comm.is_main_process():
        return None
    summary = summarize(per_trial, args.config_file or f"each trial's {RUN_CONFIG_NAME}")
    table = summary_table(summary)
    write_json(os.path.join(output_dir, f"{SUMMARY_NAME}.json"), summary)
    atomic_write_bytes(os.path.join(output_dir, f"{SUMMARY_NAME}.md"), lambda f: f.write(table.encode()))
    logger.info(f"Summary of {len(per_trial)} trials written to {output_dir}/{SUMMARY_NAME}.json and .md")
    print(table, flush=True)
    return summary


def cli(argv=None):
    args = argument_parser().parse_args(argv)
    return launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    run_tool(cli)
