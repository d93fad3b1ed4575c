#!/usr/bin/env python
"""What DETERMINISTIC costs: training-step time of a config's model (ResNet-18, 128x64, batch 32
on the CPU by default) with the key off and on, measured side by side in one process (alternating
rounds, so that load on a shared machine hits both arms alike). Writes BENCHMARKS.md's
"Determinism" section. For the SynthVI baseline (a project's config works the same way, with the
project installed):

    python benchmarks/bench_determinism.py --config configs/synthvi_baseline.yaml   # CPU
    # GPU: the same with --depth 50 --size 384 128 --batch 128 --iters 20
"""
import sys

from tabulate import tabulate

from bench_train import arm_name, hardware_line, parse_args, synthetic_batch, time_training, write_sections
from partreid.config import setup_cfg
from partreid.data import build_dataset
from partreid.utils.env import configure_determinism, resolve_device


def main(argv=None):
    args = parse_args(argv, description=__doc__, baseline=False)
    command = "python benchmarks/bench_determinism.py " + " ".join(argv if argv is not None else sys.argv[1:])
    instances = 4
    opts = ["MODEL.BACKBONE.DEPTH", args.depth, "INPUT.SIZE_TRAIN", list(args.size), "INPUT.SIZE_TEST",
            list(args.size), "DATALOADER.NUM_IDENTITIES", args.batch // instances, "MODEL.MIXER.START_EPOCH", 0]
    cfg = setup_cfg(args.config, [str(x) for x in opts] + list(args.opts), freeze=False)
    cfg.MODEL.NUM_CLASSES = build_dataset(cfg, cfg.DATASETS.TRAIN).num_train_pids
    device = resolve_device(cfg)
    batch = synthetic_batch(cfg, cfg.MODEL.NUM_CLASSES)

    def batches(start_iter):
        while True:
            yield dict(batch)

    times = {False: [], True: []}
    for _ in range(args.rounds):
        for deterministic in (False, True):
            configure_determinism(deterministic, cfg.CUDNN_BENCHMARK, device.type)
            times[deterministic].append(time_training(cfg, batches, args))
    configure_determinism(False, cfg.CUDNN_BENCHMARK, device.type)
    off, on = min(times[False]), min(times[True])
    table = tabulate([("DETERMINISTIC False", f"{off * 1e3:.0f}"), ("DETERMINISTIC True", f"{on * 1e3:.0f}")],
                     headers=[f"{arm_name(args.config)} training step", "ms / step"], tablefmt="pipe")
    body = (f"Cost of `DETERMINISTIC True` on {arm_name(args.config)} (ResNet-{args.depth}, {args.size[0]}x{args.size[1]}, "
            f"batch {args.batch}, device {device.type}).\nHardware: {hardware_line()}.\nCommand: `{command.strip()}`\n\n"
            f"{table}\n\nDeterministic / default step time: **{on / off:.2f}x** (median of {args.iters} steps after "
            f"{args.warmup} warm-up steps, best of {args.rounds} alternating rounds, measured side by side in one "
            "process). On the CPU the built-in models are bitwise reproducible at a fixed thread count either way "
            "(tests/engine/test_reproducibility.py); the key makes PyTorch use its deterministic kernels for every op.")
    print(body)
    if not args.no_write:
        write_sections(args.output, {"Determinism": body})
    return on / off


if __name__ == "__main__":
    main()
