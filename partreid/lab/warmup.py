"""Which arms may start from the reference arm's warm-up (`run_comparison(share_warmup=True)`),
decided from what each arm does before its mixer starts, never from a list of config keys.

Each side is probed (`python -m partreid.lab.warmup`, a child process set up as a training run
is): its own config is built as for training, in a scratch folder, and trained for the first
`iterations` steps; the probe records the loss terms each step logs (`total_loss` and every
`loss_*`), the learning rate of every iteration before the mixer starts (the rest of the
warm-up's schedule is stepped without training) and the iteration at which the mixer starts.
An arm may share the reference's warm-up only when all three equal the reference's exactly, at
the comparison's first seed: the same initial weights, batches, losses and schedule. A loss, an
augmentation or a weight that acts before the mixer shows in the first step's losses. What the
probe cannot see is a component that changes by itself later in the warm-up (a loss with a start
epoch of its own before the mixer's): its logged losses would differ only after `iterations`
steps, so such arms are compared without sharing the warm-up.
"""
import argparse
import json
import logging
import os
import subprocess
import sys
from typing import Dict, Optional, Sequence

from ..checkpoint import atomic_write_bytes

logger = logging.getLogger(__name__)

PROBE_FILE = "warmup_probe.json"


def probe(cfg, iterations: int) -> dict:
    """What the config's run does before its mixer starts: {"mixer_start": iterations before the
    mixer's first step, "losses": {iteration: {term: value}} of the first `iterations` steps (at
    most mixer_start), "lr": {iteration: learning rate} of every step before the mixer's start}.
    Trains in cfg.OUTPUT_DIR's process, writes no checkpoint or metrics."""
    from ..engine import DefaultTrainer
    from ..engine.hooks import HookBase, LRScheduler

    class LossRecorder(HookBase):
        def __init__(self):
            self.losses: Dict[int, Dict[str, float]] = {}
            self.lr: Dict[int, float] = {}

        def after_step(self):
            latest = self.trainer.storage.latest()
            self.losses[self.trainer.iter + 1] = {name: value for name, (value, _) in latest.items()
                                                  if name == "total_loss" or name.startswith("loss")}
            self.lr[self.trainer.iter + 1] = latest["lr"][0]

    trainer = DefaultTrainer(cfg)
    trainer.resume_or_load(resume=False)
    mixer_start = int(cfg.MODEL.MIXER.START_EPOCH) * trainer.schedule.iters_per_epoch
    loop = trainer.trainer
    lr_hook = next(h for h in loop._hooks if isinstance(h, LRScheduler))
    recorder = LossRecorder()
    loop._hooks = []
    loop.register_hooks([lr_hook, recorder])  # the schedule and the record only: no writer, checkpoint or evaluation
    steps = min(iterations, mixer_start)
    loop.train(0, steps)
    lr = dict(recorder.lr)
    group = lr_hook.optimizer.param_groups[lr_hook._logged_group]
    for iteration in range(steps + 1, mixer_start + 1):
        lr[iteration] = group["lr"]
        lr_hook.scheduler.step()
    return {"mixer_start": mixer_start, "losses": recorder.losses, "lr": lr}


def run_probe(config: str, seed: int, opts: Sequence[str], folder: str, iterations: int) -> dict:
    """`probe` of `config` at `seed` with `opts`, in a child process whose scratch folder is
    `folder`; read back from folder/warmup_probe.json when a probe of the same request is there."""
    request = {"config": os.path.abspath(config), "seed": seed, "opts": list(opts), "iterations": iterations}
    path = os.path.join(folder, PROBE_FILE)
    if os.path.isfile(path):
        with open(path) as f:
            saved = json.load(f)
        if saved.get("request") == request:
            return saved["probe"]
    cmd = [sys.executable, "-m", "partreid.lab.warmup", "--config-file", config, "--iterations", str(iterations),
           "--output", path, "SEED", str(seed), "OUTPUT_DIR", folder, *opts]
    logger.info("==> " + " ".join(cmd))
    os.makedirs(folder, exist_ok=True)
    subprocess.run(cmd, check=True)
    with open(path) as f:
        saved = json.load(f)
    saved["request"] = request
    atomic_write_bytes(path, lambda f: f.write(json.dumps(saved, indent=1).encode()))
    return saved["probe"]


def warmup_mismatch(arm: dict, reference: dict) -> Optional[str]:
    """Why an arm whose `probe` is `arm` may not start from the warm-up of the reference (probe
    `reference`); None when it may."""
    if reference["mixer_start"] <= 0:
        return "the reference's mixer starts at its first iteration: there is no warm-up to share"
    if arm["mixer_start"] != reference["mixer_start"]:
        return (f"its mixer starts after iteration {arm['mixer_start']}, the reference's after "
                f"{reference['mixer_start']}")
    for iteration in sorted(reference["lr"], key=int):
        if arm["lr"].get(iteration) != reference["lr"][iteration]:
            return (f"its learning rate at iteration {iteration} is {arm['lr'].get(iteration)}, the reference's "
                    f"{reference['lr'][iteration]}")
    for iteration in sorted(reference["losses"], key=int):
        mine, theirs = arm["losses"].get(iteration), reference["losses"][iteration]
        if mine != theirs:
            return f"its losses at iteration {iteration} are {mine}, the reference's {theirs}"
    return None


def main(argv=None):
    from ..engine import default_setup, setup_cfg

    parser = argparse.ArgumentParser(description="Probe what a config's run does before its mixer starts "
                                                 "(partreid.lab.warmup); used by the comparisons")
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--iterations", type=int, required=True, help="training steps to run and record")
    parser.add_argument("--output", required=True, help="JSON file to write the probe to")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE overrides (SEED and OUTPUT_DIR included)")
    args = parser.parse_args(argv)
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    # a scratch folder: what an earlier probe left there is replaced
    default_setup(cfg, argparse.Namespace(resume=False, eval_only=False, overwrite=True, config_file=args.config_file,
                                          opts=args.opts), write_config=False)
    cfg.freeze()
    result = probe(cfg, args.iterations)
    atomic_write_bytes(args.output, lambda f: f.write(json.dumps({"probe": result}, indent=1).encode()))


if __name__ == "__main__":
    from ..utils.cli import run_tool

    run_tool(main)
