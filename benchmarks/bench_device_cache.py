#!/usr/bin/env python
"""The host's share of a training batch, CPU loader against DATALOADER.DEVICE_CACHE; writes
BENCHMARKS.md's "Device cache: host work per batch" section in place.

    python benchmarks/bench_device_cache.py --config configs/Base-MPANetRecipe.yaml

On images already decoded and resized (both paths read them once), per batch of --batch samples:
  * CPU path: what a loader worker does, TrainAugmentation on each sample, then collate's stack;
  * device path, host side: TrainAugmentation.draw for each sample (crop, flip, box, noise), the
    only work left to the host (a background thread, one batch ahead);
  * device path, device side: augment_batch on this machine's CPU tensors, for reference only (on
    a GPU this is a few kernels).
Both paths are checked to give the same batch first. Timings: the median over --rounds, in one
process and one thread, side by side.
"""
import argparse
import os
import statistics
import sys
import time

import numpy as np
import torch
from tabulate import tabulate

from bench_train import hardware_line, write_sections
from partreid.config import setup_cfg
from partreid.data.common import SampleKey
from partreid.data.device_cache import augment_batch, draw_batch, erasing_fill_on
from partreid.data.transforms import TrainAugmentation

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, metavar="FILE", help="config whose INPUT.* augmentation is timed")
    parser.add_argument("--batch", type=int, default=128)
    parser.add_argument("--images", type=int, default=512, help="distinct cached images the batches draw from")
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--output", default=os.path.join(REPO, "BENCHMARKS.md"))
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="KEY VALUE config overrides")
    return parser.parse_args(argv)


def median_ms(fn, rounds):
    times = []
    for round_index in range(rounds):
        start = time.perf_counter()
        fn(round_index)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e3


def main(argv=None):
    args = parse_args(argv)
    command = "python benchmarks/bench_device_cache.py " + " ".join(argv if argv is not None else sys.argv[1:])
    torch.set_num_threads(1)
    cfg = setup_cfg(args.config, list(args.opts), freeze=False)
    height, width = cfg.INPUT.SIZE_TRAIN
    augmentation = TrainAugmentation.from_config(cfg)
    rng = np.random.default_rng(0)
    host = rng.integers(0, 256, size=(args.images, height, width, 3), dtype=np.uint8)
    cached = torch.from_numpy(host)

    def keys(round_index):
        indices = (np.arange(args.batch) * 7 + round_index) % args.images
        return [SampleKey(int(i), round_index * 100_003 + n) for n, i in enumerate(indices)]

    def cpu_path(round_index):
        return torch.stack([augmentation(host[k.index], np.random.default_rng(k.seed)) for k in keys(round_index)])

    drawn = {}
    erasing_fill = erasing_fill_on(augmentation, cached.device)

    def draws(round_index):
        drawn[round_index] = draw_batch(augmentation, keys(round_index), height, width)

    def device_side(round_index):
        table, noise = drawn[round_index]
        return augment_batch(cached, torch.from_numpy(table), torch.from_numpy(noise), augmentation.padding,
                             augmentation.padding_fill, erasing_fill)

    draws(0)
    if not torch.equal(cpu_path(0), device_side(0)):
        raise SystemExit("The device path's batch differs from the CPU path's: not timing a wrong result")
    cpu_ms = median_ms(cpu_path, args.rounds)
    draw_ms = median_ms(draws, args.rounds)
    device_ms = median_ms(device_side, args.rounds)
    rows = [("CPU loader: augment + collate (one worker)", f"{cpu_ms:.1f}", f"{args.batch / cpu_ms * 1e3:,.0f}"),
            ("device cache, host: the draws (one thread)", f"{draw_ms:.1f}", f"{args.batch / draw_ms * 1e3:,.0f}"),
            ("device cache, device side run on this CPU", f"{device_ms:.1f}", "(a GPU's work)")]
    table = tabulate(rows, headers=[f"batch of {args.batch} at {height}x{width}", "ms / batch", "images / s"],
                     tablefmt="pipe")
    body = (f"Host work per training batch, augmentation of `{os.path.relpath(args.config, REPO)}` on images already "
            f"decoded and resized (both paths read them once).\nHardware: {hardware_line()}.\n"
            f"Date: {time.strftime('%Y-%m-%d')}. Command: `{command.strip()}`\n\n{table}\n\n"
            f"With `DATALOADER.DEVICE_CACHE` the host's only work is the draws: **{cpu_ms / draw_ms:.1f}x** less "
            f"host time per batch than one CPU worker's augmentation, measured side by side (median of {args.rounds}"
            " batches, one thread). Both paths gave the same batch, bit for bit, before timing.")
    print(body)
    if not args.no_write:
        write_sections(args.output, {"Device cache: host work per batch": body})
    return cpu_ms / draw_ms


if __name__ == "__main__":
    main()
