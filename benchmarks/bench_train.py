#!/usr/bin/env python
"""Training and inference throughput of a method's model (--config) against a baseline
(--baseline-config); writes BENCHMARKS.md's "Training" and "Inference" sections in place (other
sections are kept). Any config works, a project's too (with the project installed); a method
with a speed goal gives it as --goal-ratio, e.g. a step at most 1.15x the baseline's:

    # CPU (reduced size: ResNet-18, 128x64, batch 32)
    python benchmarks/bench_train.py --config METHOD.yaml \
        --baseline-config configs/synthvi_baseline.yaml --goal-ratio 1.15
    # GPU (paper size): the same with --depth 50 --size 384 128 --batch 128 --iters 30

Measured, each after --warmup untimed iterations, median step time over --iters:
  * model-only training step (a synthetic uint8 batch held in memory, the real SimpleTrainer
    step: forward, losses, backward, optimizer, AMP as configured) for the method and the
    baseline, and their ratio (against --goal-ratio when given); also the method with
    MODEL.CHANNELS_LAST flipped;
  * loader-only: batches/s of build_train_loader on the method's training set (decode + augment
    + collate);
  * end-to-end training step with that loader;
  * inference: features/s of the eval forward on synthetic batches and through the test loader.
"""
import argparse
import itertools
import os
import platform
import re
import statistics
import sys
import time

import torch
from tabulate import tabulate
from torch.utils.data import DataLoader

from partreid.config import setup_cfg
from partreid.data import build_dataset, build_test_loader, build_train_loader
from partreid.data.shutdown import close_loader_iterator
from partreid.engine.hooks import HookBase
from partreid.engine.train_loop import SimpleTrainer, amp_settings
from partreid.modeling.meta_arch.build import build_model
from partreid.solver import build_optimizer
from partreid.utils.env import resolve_device, seed_all_rng

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def parse_args(argv=None, description=__doc__, baseline=True):
    """The benchmarks' shared arguments; `baseline` adds --baseline-config and --goal-ratio."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config", required=True, metavar="FILE", help="YAML config of the model to time")
    if baseline:
        parser.add_argument("--baseline-config", required=True, metavar="FILE",
                            help="YAML config of the model it is compared with")
        parser.add_argument("--goal-ratio", type=float, default=None,
                            help="largest accepted model / baseline step-time ratio, reported as met or not")
    parser.add_argument("--depth", type=int, default=18, help="ResNet depth")
    parser.add_argument("--size", type=int, nargs=2, default=[128, 64], metavar=("H", "W"), help="input size")
    parser.add_argument("--batch", type=int, default=32, help="training batch (a multiple of NUM_INSTANCES=4)")
    parser.add_argument("--iters", type=int, default=6, help="timed iterations per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="untimed iterations before each measurement")
    parser.add_argument("--rounds", type=int, default=2, help="alternating model/baseline rounds (best kept)")
    parser.add_argument("--eval-images", type=int, default=512, help="images per inference measurement")
    parser.add_argument("--output", default=os.path.join(REPO, "BENCHMARKS.md"), help="markdown file to update")
    parser.add_argument("--no-write", action="store_true", help="print only")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides for both models")
    return parser.parse_args(argv)


def bench_cfg(config_file, args, **overrides):
    """The config at the benchmark's size, with the mixer active from iteration 0."""
    instances = 4
    if args.batch % instances:
        raise ValueError(f"--batch {args.batch} must be a multiple of DATALOADER.NUM_INSTANCES={instances}")
    opts = {
        "MODEL.BACKBONE.DEPTH": args.depth,
        "INPUT.SIZE_TRAIN": list(args.size),
        "INPUT.SIZE_TEST": list(args.size),
        "DATALOADER.NUM_INSTANCES": instances,
        "DATALOADER.NUM_IDENTITIES": args.batch // instances,
        "MODEL.MIXER.START_EPOCH": 0,
        **overrides,
    }
    flat = [str(x) for kv in opts.items() for x in kv] + list(args.opts)
    return setup_cfg(config_file, flat, freeze=False)


class StepTimer(HookBase):
    """Wall time of every step (synchronising CUDA so that queued kernels are counted)."""

    def __init__(self):
        self.times = []

    def before_step(self):
        _sync()
        self._start = time.perf_counter()

    def after_step(self):
        _sync()
        self.times.append(time.perf_counter() - self._start)


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


class EventTimer(HookBase):
    """Per-step times from CUDA events recorded on the stream around every step and read once at
    the end, so the trainer runs unsynchronised, as in training (wall clock on the CPU)."""

    def __init__(self):
        self._marks = []

    def before_step(self):
        self._marks.append([_mark()])

    def after_step(self):
        self._marks[-1].append(_mark())

    @property
    def times(self) -> list:
        if torch.cuda.is_available():
            torch.cuda.synchronize()
            return [start.elapsed_time(end) / 1000 for start, end in self._marks]
        return [end - start for start, end in self._marks]


def _mark():
    if not torch.cuda.is_available():
        return time.perf_counter()
    event = torch.cuda.Event(enable_timing=True)
    event.record()
    return event


def synthetic_batch(cfg, num_classes):
    """A P x K batch like the loader's (half visible, half infrared per identity), pinned on CUDA."""
    p, k = cfg.DATALOADER.NUM_IDENTITIES, cfg.DATALOADER.NUM_INSTANCES
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (p * k, 3, *cfg.INPUT.SIZE_TRAIN), dtype=torch.uint8, generator=g)
    batch = {
        "images": images.pin_memory() if torch.cuda.is_available() else images,
        "targets": torch.arange(p).repeat_interleave(k) % num_classes,
        "camids": torch.zeros(p * k, dtype=torch.int64),
        "modalities": torch.tensor([0, 1]).repeat(p * k // 2),
        "indices": torch.arange(p * k),
    }
    return batch


def time_training(cfg, data_fn, args, timer=None):
    """Median seconds per SimpleTrainer step over args.iters after args.warmup, timed by `timer`
    (a StepTimer, which synchronises around every step, by default; an EventTimer does not)."""
    seed_all_rng(0)
    model = build_model(cfg)
    device = resolve_device(cfg)
    amp_dtype, needs_scaler = amp_settings(cfg, device)
    if cfg.SOLVER.COMPILE and device.type == "cuda":
        model = torch.compile(model)
    trainer = SimpleTrainer(model, data_fn, build_optimizer(cfg, model), seed=0, amp_dtype=amp_dtype,
                            grad_scaler=torch.amp.GradScaler("cuda") if needs_scaler else None)
    timer = timer or StepTimer()
    trainer.register_hooks([timer])
    trainer.train(0, args.warmup + args.iters)
    return statistics.median(timer.times[args.warmup:])


def time_loader(cfg, dataset, args, batches=40):
    """Seconds per batch over `batches` batches, far more than the workers' prefetch buffer
    (NUM_WORKERS x 2 batches, filled during the warm-up), so that decoding is what is timed."""
    loader = iter(build_train_loader(cfg, dataset))
    for _ in range(args.warmup):
        next(loader)
    start = time.perf_counter()
    for _ in range(batches):
        next(loader)
    return (time.perf_counter() - start) / batches


def time_loader_grid(cfg, dataset, workers: int, batches: int, warmup: int = 2) -> list:
    """The training loader with `workers` workers, pin_memory x persistent_workers: one row each
    with the seconds to the first `warmup` batches (worker start-up), ms and images/s per batch
    after them, and the seconds its shutdown takes (partreid.data.shutdown; torch's own joins each
    worker in turn, up to 5 s each)."""
    base = build_train_loader(cfg, dataset)
    rows = []
    for pin_memory in (False, True):
        for persistent in (False, True):
            loader = DataLoader(base.dataset, batch_sampler=base.batch_sampler, collate_fn=base.collate_fn,
                                num_workers=workers, pin_memory=pin_memory and torch.cuda.is_available(),
                                persistent_workers=persistent and workers > 0)
            start = time.perf_counter()
            iterator = iter(loader)
            for _ in range(warmup):
                next(iterator)
            started = time.perf_counter()
            for _ in range(batches):
                batch = next(iterator)
            per_batch = (time.perf_counter() - started) / batches
            closing = time.perf_counter()
            close_loader_iterator(iterator)
            rows.append({"pin_memory": pin_memory, "persistent_workers": persistent, "workers": workers,
                         "first_batches_s": round(started - start, 2), "ms_per_batch": round(per_batch * 1000, 1),
                         "images_per_s": round(len(batch["images"]) / per_batch, 1),
                         "close_s": round(time.perf_counter() - closing, 3)})
    return rows


@torch.no_grad()
def time_inference(cfg, dataset, args, num_classes):
    """(features/s on synthetic in-memory batches, features/s through the test loader)."""
    cfg = cfg.clone()
    cfg.MODEL.NUM_CLASSES = num_classes
    model = build_model(cfg).eval()
    batch_size = cfg.TEST.IMS_PER_BATCH
    images = torch.randint(0, 256, (batch_size, 3, *cfg.INPUT.SIZE_TEST), dtype=torch.uint8)
    batches = max(1, args.eval_images // batch_size)
    model({"images": images})
    _sync()
    start = time.perf_counter()
    for _ in range(batches):
        model({"images": images})
    _sync()
    synthetic = batches * batch_size / (time.perf_counter() - start)

    count, start = 0, time.perf_counter()
    for batch in build_test_loader(cfg, dataset):
        model(batch)
        count += batch["images"].shape[0]
        if count >= args.eval_images:
            break
    _sync()
    return synthetic, count / (time.perf_counter() - start)


def hardware_line():
    cpu = platform.processor() or "unknown CPU"
    if os.path.exists("/proc/cpuinfo"):
        with open("/proc/cpuinfo") as f:
            names = re.findall(r"^model name\s*:\s*(.+)$", f.read(), flags=re.M)
        cpu = names[0] if names else cpu
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return (f"{cpu}, {os.cpu_count()} cores ({torch.get_num_threads()} torch threads), {gpu}, "
            f"torch {torch.__version__}, Python {platform.python_version()}")


def replace_section(text, title, body):
    """Replace `## title` up to the next `## ` heading (or append it)."""
    section = f"## {title}\n\n{body.strip()}\n\n"
    pattern = re.compile(rf"^## {re.escape(title)}\n.*?(?=^## |\Z)", flags=re.M | re.S)
    if pattern.search(text):
        return pattern.sub(lambda _: section, text, count=1)
    return text.rstrip() + "\n\n" + section


def write_sections(path, sections):
    """Replace (or append) each `## title` of `sections` ({title: body}) in the Markdown file
    `path`, keeping the others."""
    text = open(path).read() if os.path.exists(path) else "# Benchmarks\n"
    for title, body in sections.items():
        text = replace_section(text, title, body)
    with open(path, "w") as f:
        f.write(text)


def arm_name(config_file):
    """A config's name in the tables: its file name without the extension."""
    return os.path.splitext(os.path.basename(config_file))[0]


def main(argv=None):
    args = parse_args(argv)
    command = "python benchmarks/bench_train.py " + " ".join(argv if argv is not None else sys.argv[1:])
    method, baseline = arm_name(args.config), arm_name(args.baseline_config)
    if method == baseline:
        raise ValueError(f"--config and --baseline-config have the same name {method!r}: the tables could not tell them apart")
    method_cfg = bench_cfg(args.config, args)
    dataset = build_dataset(method_cfg, method_cfg.DATASETS.TRAIN)
    num_classes = dataset.num_train_pids
    batch = args.batch
    device = resolve_device(method_cfg)

    def cfg_for(config_file, **overrides):
        cfg = bench_cfg(config_file, args, **overrides)
        cfg.MODEL.NUM_CLASSES = num_classes
        return cfg

    in_memory = synthetic_batch(method_cfg, num_classes)
    memory_fn = lambda start_iter: itertools.repeat(in_memory)  # noqa: E731
    rows, step = [], {}
    models = ((method, args.config), (baseline, args.baseline_config))
    # Alternating rounds, best median kept: load from other jobs hits both models alike.
    for _ in range(args.rounds):
        for name, config_file in models:
            seconds = time_training(cfg_for(config_file), memory_fn, args)
            step[name] = min(step.get(name, seconds), seconds)
            print(f"{name}: {seconds * 1000:.0f} ms/step", flush=True)
    for name, _ in models:
        rows.append([f"{name}, model only (synthetic batch in memory)", f"{step[name] * 1000:.0f}",
                     f"{batch / step[name]:.1f}"])
    channels_last = bool(method_cfg.MODEL.CHANNELS_LAST)
    flipped = time_training(cfg_for(args.config, **{"MODEL.CHANNELS_LAST": not channels_last}), memory_fn, args)
    rows.append([f"{method}, model only, MODEL.CHANNELS_LAST {not channels_last}", f"{flipped * 1000:.0f}",
                 f"{batch / flipped:.1f}"])
    loader_time = time_loader(method_cfg, dataset, args)
    train_set = method_cfg.DATASETS.TRAIN
    rows.append([f"loader only ({train_set}, {method_cfg.DATALOADER.NUM_WORKERS} workers, decode + augment, 40 batches)",
                 f"{loader_time * 1000:.0f}", f"{batch / loader_time:.1f}"])
    e2e = time_training(cfg_for(args.config),
                        lambda start_iter: build_train_loader(method_cfg, dataset, start_iter), args)
    rows.append([f"{method}, end to end (real loader)", f"{e2e * 1000:.0f}", f"{batch / e2e:.1f}"])
    ratio = step[method] / step[baseline]
    synthetic_fps, loader_fps = time_inference(method_cfg, dataset, args, num_classes)

    size = f"ResNet-{args.depth}, {args.size[0]}x{args.size[1]}, batch {batch}"
    reduced = " (reduced size for the CPU; the paper's is ResNet-50, 384x128)" if device.type == "cpu" else ""
    amp_dtype, _ = amp_settings(method_cfg, device)
    switches = (f"device {device.type}, AMP {amp_dtype or 'off'}, channels_last {channels_last}, "
                f"torch.compile {bool(method_cfg.SOLVER.COMPILE) and device.type == 'cuda'}")
    bottleneck = "the loader (decoding/augmentation)" if loader_time > step[method] else "the model"
    goal = "" if args.goal_ratio is None else (
        f" (goal <= {args.goal_ratio}x: {'met' if ratio <= args.goal_ratio else 'NOT met'})")
    training = "\n".join([
        f"Training throughput of {method} against {baseline} on {train_set}: {size}{reduced}; {switches}.",
        f"Hardware: {hardware_line()}.",
        f"Command: `{command.strip()}`",
        "",
        tabulate(rows, headers=["measurement", "ms / step", "images / s"], tablefmt="pipe"),
        "",
        f"{method} step / {baseline} step: **{ratio:.2f}x**{goal}. Loader-only vs model-only: the bottleneck is "
        f"{bottleneck} ({batch / loader_time:.0f} vs {batch / step[method]:.0f} images/s).",
        f"Median of {args.iters} steps after {args.warmup} warm-up steps (model-only {method} and {baseline}: "
        f"best of {args.rounds} alternating rounds); the mixer is active from the "
        "first step (MODEL.MIXER.START_EPOCH 0). No GPU was lent to the session that wrote this table; "
        "on a GPU, add `--depth 50 --size 384 128 --batch 128 --iters 30` to the command.",
    ])
    inference = "\n".join([
        f"Test-time feature extraction of {method} (eval forward, TEST.IMS_PER_BATCH {method_cfg.TEST.IMS_PER_BATCH}, "
        f"{size.split(', batch')[0]}), same hardware and command as above.",
        "",
        tabulate([["model only (synthetic batch in memory)", f"{synthetic_fps:.1f}"],
                  [f"test loader + model ({min(args.eval_images, len(dataset.test))} {method_cfg.DATASETS.TEST} test images)",
                   f"{loader_fps:.1f}"]],
                 headers=["measurement", "features / s"], tablefmt="pipe"),
    ])
    print("\n## Training\n\n" + training + "\n\n## Inference\n\n" + inference)
    if not args.no_write:
        write_sections(args.output, {"Training": training, "Inference": inference})
        print(f"\nWrote the Training and Inference sections of {args.output}")


if __name__ == "__main__":
    main()
