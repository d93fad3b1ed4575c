#!/usr/bin/env python
"""The one prepared GPU check of partreid: correctness of every device path first, then speed.

    # on a GPU machine, from the repository root (no install needed; sections stop at --budget,
    # 420 s by default, plus start-up):
    PYTHONPATH=.:projects/PartMix python3 benchmarks/gpu_check.py --out OUT_DIR
    # or: benchmarks/gpu_check.sh --out OUT_DIR
    # reduced mode on the CPU (what tests/benchmarks/test_gpu_check.py runs):
    python benchmarks/gpu_check.py --device cpu --quick --out OUT_DIR

Full size is the paper's: ResNet-50, 6 parts, 384x128, batch 16 ids x 8 images, on a SynthVI
generated on the spot with SYSU-MM01's identity counts (395 train+val, 96 test). Sections, in
order of value (`--list` prints them):
  correctness  PartMix training with AMP bf16 through the real loader, killed right after a
               checkpoint, resumed (the --resume path), evaluated; --eval-only of the final
               checkpoint against that evaluation; the same with fp16 and the GradScaler;
               factorised PartMix mining against materialised candidates on the device;
               ONNX export parity against the device's features;
  speed        training images/s model-only (synthetic batch in memory) and end to end (real
               loader) for the baseline and PartMix, AMP on/off, channels_last on/off,
               torch.compile on/off; peak GPU memory; inference features/s; the full SYSU-sized
               10-trial evaluation; the targets (PartMix step <= 1.15x the baseline's in bf16,
               end to end >= 90% of model-only), each printed PASS or FAIL.
Every section is timed and isolated: a failure is recorded (traceback in log.txt) and the next
section runs. --budget bounds the whole run: a section that would not fit is marked
"skipped (budget)", and one that overruns is stopped. Sections that only mean something on CUDA
(AMP, the GradScaler, torch.compile, features left on the GPU) are "skipped: needs CUDA" on the CPU.

OUT_DIR receives four small files, rewritten after every section so that a killed run still
leaves its results: results.md (tables), results.json (everything), env.txt (hardware and
software), log.txt (progress, engine logs, tracebacks). Datasets, checkpoints and the ONNX file
go to --work-dir (a temporary folder, removed at the end unless given). Exit status 1 when a
section failed; unmet speed targets do not change it.
"""
import argparse
import contextlib
import gc
import itertools
import json
import logging
import math
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from collections import OrderedDict
from dataclasses import asdict, dataclass
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional

import numpy as np
import torch
import torch.nn.functional as F
from tabulate import tabulate

from bench_train import StepTimer, synthetic_batch, time_loader
from partreid.checkpoint import ReidCheckpointer
from partreid.config import setup_cfg
from partreid.data import INFRARED, VISIBLE, ReidDataset, build_dataset, build_test_loader, build_train_loader
from partreid.data.synthvi import generate_synthvi
from partreid.engine import DefaultTrainer, HookBase, SimpleTrainer
from partreid.engine.train_loop import amp_settings
from partreid.evaluation import SYSUEvaluator, inference_on_dataset
from partreid.export import export_onnx, onnx_max_abs_difference
from partreid.export.onnx import INPUT_NAME, OUTPUT_NAME
from partreid.modeling.meta_arch.build import build_model
from partreid.solver import build_optimizer
from partreid.utils.env import collect_env_info, configure_determinism, seed_all_rng
from partreid.utils.optional import missing_extra
from partmix.mining import (bn_affine, bn_statistics, candidate_entropies, candidate_masks, candidate_similarities,
                            materialise_candidates, prediction_entropy, random_part_swaps, select_candidates)

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
PARTMIX_CFG = os.path.join(REPO, "projects", "PartMix", "configs", "sysu_partmix.yaml")
BASELINE_CFG = os.path.join(REPO, "projects", "PartMix", "configs", "sysu_baseline.yaml")
# SYSU-MM01's test set: every infrared image of the 96 test ids is a query; the visible images
# of those ids are the pool the all-search galleries are drawn from.
SYSU_QUERIES, SYSU_VISIBLE = 3803, 6775
GOAL_STEP_RATIO = 1.15  # PartMix model-only step / baseline step, bf16, batch 128
GOAL_E2E_FRACTION = 0.90  # end-to-end images/s / model-only images/s
OUT_FILES = ("results.md", "results.json", "env.txt", "log.txt")

logger = logging.getLogger("partreid.gpu_check")


@dataclass(frozen=True)
class Profile:
    """Every size the check uses; FULL is the paper's setting, QUICK the CPU smoke test. Both run
    the same code, so the quick mode (and its test) covers the paths of the full one."""

    name: str
    depth: int
    num_parts: int
    size: tuple  # (H, W) for training and test
    identities: int  # P ids x K images per batch
    instances: int
    train_ids: int  # SynthVI identities (train+val) / test
    test_ids: int
    images_per_camera: int
    image_size: tuple  # generated crop size (the loader resizes it to `size`)
    iters_per_epoch: int  # bf16 run: epochs of this many iterations; killed after kill_epoch
    epochs: int
    kill_epoch: int
    fp16_iters_per_epoch: int
    fp16_epochs: int
    fp16_kill_epoch: int
    warmup: int  # untimed steps before each speed measurement
    timed: int  # timed model-only steps (median)
    e2e_timed: int  # timed end-to-end steps (mean, after the loader's prefetch is drained)
    loader_batches: int
    test_batch: int
    inference_batches: int
    onnx_images: int
    mining_channels: int
    sysu_scale: float  # fraction of SYSU's test-set size for the evaluation timing
    estimate_scale: float  # section estimates (written for FULL on an H100) times this


FULL = Profile(
    name="full", depth=50, num_parts=6, size=(384, 128), identities=16, instances=8,
    train_ids=395, test_ids=96, images_per_camera=3, image_size=(256, 128),
    iters_per_epoch=40, epochs=5, kill_epoch=3, fp16_iters_per_epoch=20, fp16_epochs=3, fp16_kill_epoch=2,
    warmup=5, timed=20, e2e_timed=30, loader_batches=40, test_batch=128, inference_batches=10, onnx_images=4,
    mining_channels=2048, sysu_scale=1.0, estimate_scale=1.0,
)
QUICK = Profile(
    name="quick", depth=18, num_parts=2, size=(64, 32), identities=2, instances=4,
    train_ids=6, test_ids=4, images_per_camera=2, image_size=(64, 32),
    iters_per_epoch=2, epochs=2, kill_epoch=1, fp16_iters_per_epoch=2, fp16_epochs=2, fp16_kill_epoch=1,
    warmup=1, timed=2, e2e_timed=2, loader_batches=3, test_batch=16, inference_batches=2, onnx_images=2,
    mining_channels=32, sysu_scale=0.02, estimate_scale=0.02,
)


class CheckFailed(Exception):
    """A correctness check that did not hold (the message says which and by how much)."""


class SectionTimeout(BaseException):
    """Raised by the alarm when a section runs past the budget (a BaseException, so that the
    per-measurement error handling inside sections does not swallow it)."""


class SimulatedKill(Exception):
    """Stops a training run the way a kill right after a checkpoint would."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailed(message)


class KillAfterIteration(HookBase):
    """Raises SimulatedKill once `iteration` iterations are done; registered last, so that the
    checkpointer has already written that iteration's checkpoint."""

    def __init__(self, iteration: int):
        self.iteration = iteration

    def after_step(self):
        if self.trainer.iter + 1 == self.iteration:
            raise SimulatedKill(f"simulated kill after iteration {self.iteration}")


def _sync():
    if torch.cuda.is_available():
        torch.cuda.synchronize()


def _free_device_memory():
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()


@contextlib.contextmanager
def strict_fp32():
    """Plain float32 matmuls and convolutions (no TF32) for comparisons against the CPU."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


@contextlib.contextmanager
def deadline(seconds: float):
    """Raise SectionTimeout in the main thread after `seconds`."""

    def alarm(signum, frame):
        raise SectionTimeout(f"stopped after {seconds:.0f} s: the run's --budget is spent")

    previous = signal.signal(signal.SIGALRM, alarm)
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1.0))
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@dataclass
class SpeedRun:
    """One training-speed measurement: `mode` "model-only" (a synthetic batch in memory, the
    real SimpleTrainer step) or "end-to-end" (the real SynthVI loader)."""

    key: str
    model: str  # "PartMix" or "baseline"
    mode: str
    amp: str = "bf16"  # requested SOLVER.AMP.DTYPE, or "off"
    channels_last: bool = True
    compile: bool = False
    workers: Optional[int] = None  # end to end: DATALOADER.NUM_WORKERS (None: --workers)
    estimate_s: float = 10.0

    @property
    def config_file(self) -> str:
        return PARTMIX_CFG if self.model == "PartMix" else BASELINE_CFG


@dataclass
class Section:
    name: str
    title: str
    run: Callable
    estimate_s: float  # on an H100 at full size; Profile.estimate_scale scales it
    needs_cuda: str = ""  # why the section means nothing without CUDA ("" = runs everywhere)


class GpuCheck:
    def __init__(self, args):
        self.args = args
        self.profile = QUICK if args.quick else FULL
        self.device = torch.device(args.device)
        self.cuda = self.device.type == "cuda"
        self.out = os.path.abspath(args.out)
        self.workers = args.workers if args.workers is not None else (1 if args.quick else _default_workers())
        self.start = time.perf_counter()
        self.budget_end = self.start + args.budget
        self.sections: "OrderedDict[str, dict]" = OrderedDict()
        self.speed: List[dict] = []
        self.other: "OrderedDict[str, str]" = OrderedDict()
        self.artifacts: dict = {}
        self._dataset = None
        self.work = args.work_dir or tempfile.mkdtemp(prefix="partreid_gpu_check_")
        self.work = os.path.abspath(self.work)
        self.data_root = os.path.join(self.work, "datasets")

    # ----------------------------------------------------------------- plumbing
    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def remaining(self) -> float:
        return self.budget_end - time.perf_counter()

    def say(self, message: str) -> None:
        print(f"[gpu_check +{self.elapsed():6.1f}s] {message}", flush=True)
        logger.info(message)

    def make_cfg(self, config_file: str, **overrides):
        """The SYSU recipe of `config_file` at this profile's size, on the generated SynthVI, with
        the mixer active from the first iteration; `overrides` ({"SOLVER.AMP.DTYPE": "fp16", ...})
        replace or extend these options."""
        p = self.profile
        opts = {
            "MODEL.DEVICE": self.device.type,
            "MODEL.BACKBONE.DEPTH": p.depth,
            "MODEL.PART_HEAD.NUM_PARTS": p.num_parts,
            "INPUT.SIZE_TRAIN": list(p.size),
            "INPUT.SIZE_TEST": list(p.size),
            "DATALOADER.NUM_IDENTITIES": p.identities,
            "DATALOADER.NUM_INSTANCES": p.instances,
            "DATALOADER.NUM_WORKERS": self.workers,
            "DATASETS.TRAIN": "SynthVI",
            "DATASETS.TEST": "SynthVI",
            "DATASETS.ROOT": self.data_root,
            "DATASETS.SYNTHVI.NUM_TRAIN_IDS": p.train_ids,
            "DATASETS.SYNTHVI.NUM_TEST_IDS": p.test_ids,
            "DATASETS.SYNTHVI.IMAGES_PER_CAMERA": p.images_per_camera,
            "DATASETS.SYNTHVI.IMAGE_SIZE": list(p.image_size),
            "DATASETS.SYNTHVI.AUTO_GENERATE": False,
            # random weights: the GPU machine is offline (no ImageNet download), and neither the
            # device paths nor the speed depend on the initial weights
            "MODEL.BACKBONE.PRETRAIN_PATH": "",
            "MODEL.BACKBONE.ALLOW_RANDOM_INIT": True,
            "MODEL.MIXER.START_EPOCH": 0,
            "TEST.IMS_PER_BATCH": p.test_batch,
            "OUTPUT_DIR": os.path.join(self.work, "output"),
        }
        opts.update(overrides)
        flat = [str(x) for kv in opts.items() for x in kv]
        return setup_cfg(config_file, flat, freeze=False)

    def dataset(self):
        """The SYSU-sized SynthVI (generated once, with --gen-workers processes)."""
        if self._dataset is None:
            p = self.profile
            start = time.perf_counter()
            summary = generate_synthvi(
                os.path.join(self.data_root, "SynthVI"), num_train_ids=p.train_ids, num_test_ids=p.test_ids,
                images_per_camera=p.images_per_camera, image_size=list(p.image_size),
                num_workers=self.args.gen_workers,
            )
            seconds = time.perf_counter() - start
            cfg = self.make_cfg(PARTMIX_CFG)
            self._dataset = build_dataset(cfg, "SynthVI")
            self.artifacts["dataset"] = {
                "generated": summary["generated"], "seconds": round(seconds, 1),
                "images": summary["num_images"], "train_images": len(self._dataset.train),
                "test_images": len(self._dataset.test), "train_ids": self._dataset.num_train_pids,
                "test_ids": summary["num_test_ids"], "image_size": summary["image_size"],
                "generator_processes": self.args.gen_workers,
            }
        return self._dataset

    def num_classes(self) -> int:
        return self.dataset().num_train_pids

    # ----------------------------------------------------------------- running
    def run(self, sections: List[Section], only: Optional[List[str]]) -> int:
        self.say(f"device {self.device}, profile {self.profile.name}, budget {self.args.budget:.0f} s, "
                 f"work dir {self.work}, results in {self.out}")
        cfg = self.make_cfg(PARTMIX_CFG)  # cuDNN autotuning etc. as tools/train_net.py sets them
        logger.info(configure_determinism(cfg.DETERMINISTIC, cfg.CUDNN_BENCHMARK, self.device.type))
        for section in sections:
            record = {"title": section.title, "status": "", "seconds": 0.0, "summary": "", "details": {}}
            self.sections[section.name] = record
            estimate = section.estimate_s * self.profile.estimate_scale
            if only and section.name not in only:
                record["status"] = "not selected (--only)"
            elif section.needs_cuda and not self.cuda:
                record["status"] = "skipped: needs CUDA"
                record["summary"] = section.needs_cuda
            elif self.remaining() < estimate:
                record["status"] = "skipped (budget)"
                record["summary"] = f"{self.remaining():.0f} s left, needs about {estimate:.0f} s"
            else:
                self._run_section(section, record)
            if record["status"] not in ("ok", "not selected (--only)"):
                self.say(f"{section.name}: {record['status']} {record['summary']}".rstrip())
            self.write()
        failed = [n for n, r in self.sections.items() if r["status"].startswith("FAIL")]
        self.say(f"done in {self.elapsed():.0f} s; " + (f"FAILED: {', '.join(failed)}" if failed else
                                                           "no section failed"))
        return 1 if failed else 0

    def _run_section(self, section: Section, record: dict) -> None:
        self.say(f"{section.name}: {section.title}")
        start = time.perf_counter()
        try:
            with deadline(self.remaining() + self.args.grace):
                summary, details = section.run(self)
            record["status"], record["summary"], record["details"] = "ok", summary, details
        except SectionTimeout as e:
            record["status"], record["summary"] = "FAIL: timeout", str(e)
            logger.error("Section %s timed out:\n%s", section.name, traceback.format_exc())
        except Exception as e:  # every failure is recorded and the next section still runs
            kind = "check failed" if isinstance(e, CheckFailed) else type(e).__name__
            record["status"] = f"FAIL: {kind}"
            record["summary"] = str(e).strip().splitlines()[0][:300] if str(e).strip() else ""
            logger.error("Section %s failed:\n%s", section.name, traceback.format_exc())
        _free_device_memory()  # counted: collecting a trainer also stops its loader workers
        record["seconds"] = round(time.perf_counter() - start, 1)
        if record["status"] == "ok":
            self.say(f"{section.name}: ok in {record['seconds']:.0f} s: {record['summary']}")

    # ----------------------------------------------------------------- speed measurements
    def measure_training(self, run: SpeedRun) -> dict:
        """Build the model and optimizer as the engine does, run warm-up + timed SimpleTrainer
        steps, return the row. Model-only: median step. End to end: mean step after the loader's
        prefetch buffer (2 batches per worker, filled during the warm-up) has been drained."""
        p = self.profile
        workers = self.workers if run.workers is None else run.workers
        overrides = {"MODEL.CHANNELS_LAST": run.channels_last, "SOLVER.COMPILE": run.compile,
                     "SOLVER.AMP.ENABLED": run.amp != "off", "DATALOADER.NUM_WORKERS": workers}
        if run.amp != "off":
            overrides["SOLVER.AMP.DTYPE"] = run.amp
        cfg = self.make_cfg(run.config_file, **overrides)
        cfg.MODEL.NUM_CLASSES = self.num_classes()
        if run.mode == "model-only":
            batch = synthetic_batch(cfg, cfg.MODEL.NUM_CLASSES)
            data_fn, skip, timed = (lambda start_iter: itertools.repeat(batch)), 0, p.timed
        else:
            dataset = self.dataset()
            data_fn = lambda start_iter: build_train_loader(cfg, dataset, start_iter)  # noqa: E731
            skip, timed = 2 * workers, p.e2e_timed

        seed_all_rng(cfg.SEED)
        if self.cuda:
            _free_device_memory()
            torch.cuda.reset_peak_memory_stats()
        model = build_model(cfg)
        optimizer = build_optimizer(cfg, model)  # before compiling, as DefaultTrainer does (parameter names)
        amp_dtype, needs_scaler = amp_settings(cfg, self.device)
        if cfg.SOLVER.COMPILE and self.cuda:
            model = torch.compile(model)
        trainer = SimpleTrainer(model, data_fn, optimizer, seed=cfg.SEED, amp_dtype=amp_dtype,
                                grad_scaler=torch.amp.GradScaler("cuda") if needs_scaler else None)
        timer = StepTimer()
        trainer.register_hooks([timer])
        trainer.train(0, p.warmup + skip + timed)
        steps = timer.times[p.warmup + skip:]
        seconds = statistics.median(steps) if run.mode == "model-only" else statistics.mean(steps)
        peak = torch.cuda.max_memory_allocated() / 2**30 if self.cuda else None
        del trainer, model, optimizer
        _free_device_memory()
        batch_size = p.identities * p.instances
        return {
            "key": run.key, "model": run.model, "mode": run.mode,
            "amp": _amp_name(amp_dtype, needs_scaler, self.device),
            "channels_last": run.channels_last, "compile": bool(cfg.SOLVER.COMPILE and self.cuda),
            "workers": workers if run.mode == "end-to-end" else "-",
            "ms_per_step": round(seconds * 1000, 1), "images_per_s": round(batch_size / seconds, 1),
            "peak_gib": round(peak, 2) if peak is not None else None,
            "warmup_s": round(sum(timer.times[:p.warmup]), 1),
            "steps": f"{len(steps)} timed after {p.warmup} warm-up" + (f" + {skip} prefetched" if skip else ""),
            "status": "ok",
        }

    def speed_runs(self, runs: List[SpeedRun]) -> tuple:
        """Measure `runs` in order, each isolated (a failure is a row, the others still run) and
        skipped when the budget cannot take it."""
        failures, measured = [], []
        for run in runs:
            base = {"key": run.key, "model": run.model, "mode": run.mode, "amp": run.amp,
                    "channels_last": run.channels_last, "compile": run.compile}
            estimate = run.estimate_s * self.profile.estimate_scale
            if self.remaining() < estimate:
                self.add_speed(dict(base, status=f"skipped (budget: {self.remaining():.0f} s left)"))
                continue
            try:
                row = self.measure_training(run)
                measured.append(run.key)
                self.say(f"  {run.key}: {row['ms_per_step']} ms/step, {row['images_per_s']} images/s"
                         + (f", peak {row['peak_gib']} GiB" if row["peak_gib"] is not None else ""))
            except Exception as e:
                logger.error("Speed run %s failed:\n%s", run.key, traceback.format_exc())
                row = dict(base, status=f"FAIL: {type(e).__name__}: {str(e)[:200]}")
                failures.append(run.key)
            _free_device_memory()  # here, once the traceback (which holds the model) is gone
            self.add_speed(row)
            self.write()
        if failures:
            raise CheckFailed(f"{len(failures)} of {len(runs)} measurements failed: {', '.join(failures)} "
                              "(tracebacks in log.txt)")
        return f"{len(measured)} of {len(runs)} measured", {"measured": measured}

    def add_speed(self, row: dict) -> None:
        self.speed = [r for r in self.speed if r["key"] != row["key"]] + [row]

    def speed_row(self, key: str) -> Optional[dict]:
        return next((r for r in self.speed if r["key"] == key and r.get("status") == "ok"), None)

    # ----------------------------------------------------------------- results
    def targets(self) -> List[dict]:
        """The issue's targets from the measured rows: PASS / FAIL (info for context rows), or
        n/a when a row was not measured."""
        reduced = "" if self.cuda and self.profile is FULL else "reduced mode, not the target setting"
        specs = [
            ("PartMix / baseline model-only step (batch 128, bf16)", "partmix_model_only", "baseline_model_only",
             "ms_per_step", "<=", GOAL_STEP_RATIO, False),
            ("PartMix end-to-end / model-only images/s", "partmix_e2e", "partmix_model_only", "images_per_s", ">=",
             GOAL_E2E_FRACTION, False),
            ("baseline end-to-end / model-only images/s", "baseline_e2e", "baseline_model_only", "images_per_s", ">=",
             GOAL_E2E_FRACTION, False),
            ("PartMix / baseline model-only step, torch.compile", "partmix_model_only_compile",
             "baseline_model_only_compile", "ms_per_step", "<=", GOAL_STEP_RATIO, True),
            ("PartMix / baseline model-only step, AMP off", "partmix_model_only_fp32", "baseline_model_only_fp32",
             "ms_per_step", "<=", GOAL_STEP_RATIO, True),
        ]
        rows = []
        for name, numerator, denominator, field_name, op, limit, info in specs:
            a, b = self.speed_row(numerator), self.speed_row(denominator)
            row = {"target": name, "goal": f"{op} {limit}", "value": "n/a", "verdict": "n/a (not measured)",
                   "note": reduced}
            if a is not None and b is not None:
                value = a[field_name] / b[field_name]
                met = value <= limit if op == "<=" else value >= limit
                row.update(value=round(value, 3), verdict="info" if info else ("PASS" if met else "FAIL"),
                           note=", ".join(x for x in (reduced, f"AMP {a['amp']}") if x))
            rows.append(row)
        return rows

    def state(self) -> dict:
        return {
            "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
            "device": _device_name(self.device), "profile": asdict(self.profile), "budget_s": self.args.budget,
            "workers": self.workers, "elapsed_s": round(self.elapsed(), 1), "sections": self.sections,
            "targets": self.targets(), "speed": self.speed, "other": self.other,
        }

    def write(self) -> None:
        """Rewrite results.json and results.md (called after every section and measurement)."""
        state = self.state()
        _atomic_write(os.path.join(self.out, "results.json"), json.dumps(state, indent=2, default=str))
        _atomic_write(os.path.join(self.out, "results.md"), self.markdown(state))

    def summary_markdown(self, state: dict) -> str:
        p = self.profile
        lines = [
            "# partreid GPU check",
            "",
            f"Device: {state['device']}. Profile {p.name}: ResNet-{p.depth}, {p.num_parts} parts, "
            f"{p.size[0]}x{p.size[1]}, batch {p.identities} x {p.instances}, SynthVI {p.train_ids} train+val / "
            f"{p.test_ids} test ids. Loader workers {self.workers}. Elapsed {state['elapsed_s']:.0f} s of a "
            f"{state['budget_s']:.0f} s budget.",
            f"Command: `{state['command']}`",
            "",
            "## Sections",
            "",
            tabulate([[n, r["status"], r["seconds"], r["summary"]] for n, r in self.sections.items()],
                     headers=["section", "status", "s", "summary"], tablefmt="pipe"),
            "",
            "## Targets",
            "",
            tabulate([[t["target"], t["value"], t["goal"], t["verdict"], t["note"]] for t in state["targets"]],
                     headers=["target", "value", "goal", "verdict", "note"], tablefmt="pipe"),
            "",
            "## Training speed",
            "",
            "Model-only: a synthetic uint8 batch in (pinned) memory through the real SimpleTrainer step, median "
            "step. End to end: the real SynthVI loader, mean step after its prefetch is drained. Peak: "
            "torch.cuda.max_memory_allocated, reset before each row.",
            "",
            tabulate([[r["key"], r["mode"], r["amp"], r["channels_last"], r["compile"], r.get("workers", ""),
                       r.get("ms_per_step", ""), r.get("images_per_s", ""), r.get("peak_gib", ""),
                       r.get("warmup_s", ""), r["status"]] for r in self.speed],
                     headers=["row", "mode", "AMP", "channels_last", "compile", "workers", "ms/step", "images/s",
                              "peak GiB", "warm-up s", "status"], tablefmt="pipe"),
        ]
        if self.other:
            lines += ["", "## Other measurements", "",
                      tabulate(list(self.other.items()), headers=["measurement", "value"], tablefmt="pipe")]
        return "\n".join(lines) + "\n"

    def markdown(self, state: dict) -> str:
        details = ["", "## Details", ""]
        for name, record in self.sections.items():
            if record["details"]:
                details.append(f"### {name}\n")
                details += [f"- {k}: {v}" for k, v in record["details"].items()]
                details.append("")
        return self.summary_markdown(state) + "\n".join(details)


# --------------------------------------------------------------------------- sections


def write_environment(check: GpuCheck) -> None:
    """Hardware and software versions into env.txt (before any section, so it is always there)."""
    rows = [("command", " ".join([sys.executable] + sys.argv)), ("repository commit", _git_commit()),
            ("CPU", _cpu_name()), ("logical CPUs", os.cpu_count()), ("platform", platform.platform()),
            ("device used", _device_name(check.device)), ("profile", check.profile.name)]
    for name in ("cv2", "onnx", "onnxruntime", "fvcore", "iopath", "yacs", "termcolor", "scipy", "tabulate"):
        try:
            rows.append((name, getattr(__import__(name), "__version__", "installed")))
        except ImportError:
            rows.append((name, "not installed"))
    if check.cuda:
        props = torch.cuda.get_device_properties(check.device)
        rows += [("GPU", props.name), ("GPU memory", f"{props.total_memory / 2**30:.1f} GiB"),
                 ("compute capability", f"{props.major}.{props.minor}"),
                 ("multiprocessors", props.multi_processor_count), ("CUDA (torch build)", torch.version.cuda),
                 ("cuDNN", torch.backends.cudnn.version()), ("driver", _nvidia_smi("driver_version")),
                 ("TF32 matmul / cuDNN",
                  f"{torch.backends.cuda.matmul.allow_tf32} / {torch.backends.cudnn.allow_tf32}")]
    width = max(len(k) for k, _ in rows)
    text = collect_env_info() + "\n\n" + "\n".join(f"{k:<{width}}  {v}" for k, v in rows) + "\n"
    _atomic_write(os.path.join(check.out, "env.txt"), text)


def section_environment(check: GpuCheck):
    """A float32 matmul on the device, checked against the CPU (is the device usable at all)."""
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(256, 512, generator=g), torch.randn(512, 128, generator=g)
    with strict_fp32():
        on_device = (a.to(check.device) @ b.to(check.device)).cpu()
    error = float((on_device - a @ b).norm() / (a @ b).norm())
    require(error < 1e-5, f"a float32 matmul on {check.device} differs from the CPU's by {error:.2e} (relative)")
    details = {"torch": torch.__version__, "device": _device_name(check.device),
               "matmul relative error vs CPU": f"{error:.1e}"}
    return f"{details['device']}, torch {torch.__version__}; versions in env.txt", details


def section_dataset(check: GpuCheck):
    """Generate the SYSU-sized SynthVI (the loader sections read it)."""
    check.dataset()
    info = check.artifacts["dataset"]
    require(info["train_ids"] == check.profile.train_ids,
            f"SynthVI has {info['train_ids']} training identities, expected {check.profile.train_ids}")
    check.other["SynthVI generation"] = (f"{info['images']} images ({info['image_size'][0]}x{info['image_size'][1]}) "
                                         f"in {info['seconds']} s with {info['generator_processes']} processes")
    return (f"{info['images']} images, {info['train_ids']} train ids, {info['test_ids']} test ids "
            f"in {info['seconds']} s"), info


def _train_kill_resume_evaluate(check: GpuCheck, amp: str, iters_per_epoch: int, epochs: int, kill_epoch: int):
    """PartMix from scratch with the real loader: killed right after the checkpoint at
    `kill_epoch`, resumed the way tools/train_net.py --resume does it, trained to the end and
    evaluated by the end-of-training hook. Checks that the resume restores the exact state."""
    out_dir = os.path.join(check.work, f"train_{amp}")
    shutil.rmtree(out_dir, ignore_errors=True)
    check.dataset()
    cfg = check.make_cfg(PARTMIX_CFG, **{
        "SOLVER.AMP.DTYPE": amp, "DATALOADER.ITERS_PER_EPOCH": iters_per_epoch, "SOLVER.MAX_EPOCHS": epochs,
        "SOLVER.STEPS": [epochs - 1], "SOLVER.CHECKPOINT_PERIOD": kill_epoch, "TEST.EVAL_PERIOD": 0,
        "MODEL.MIXER.START_EPOCH": 1, "SOLVER.LOG_PERIOD": 20, "OUTPUT_DIR": out_dir,
    })
    cfg.freeze()
    kill_iter = kill_epoch * iters_per_epoch  # iterations done when killed
    if check.cuda:
        torch.cuda.reset_peak_memory_stats()

    first = DefaultTrainer(cfg)
    first.resume_or_load(resume=False)
    expected_dtype = {"bf16": torch.bfloat16, "fp16": torch.float16}[amp] if check.cuda else None
    require(first.trainer.amp_dtype == expected_dtype,
            f"the trainer autocasts to {first.trainer.amp_dtype}, expected {expected_dtype}")
    require((first.trainer.grad_scaler is not None) == (check.cuda and amp == "fp16"),
            f"GradScaler present: {first.trainer.grad_scaler is not None}, expected only with fp16 on CUDA")
    first_timer = StepTimer()
    first.trainer.register_hooks([first_timer, KillAfterIteration(kill_iter)])
    start = time.perf_counter()
    try:
        first.train()
        raise CheckFailed(f"the run was not stopped after iteration {kill_iter}")
    except SimulatedKill:
        pass
    first_seconds = time.perf_counter() - start
    first_losses = first.trainer.storage.latest()
    del first
    _free_device_memory()

    with open(os.path.join(out_dir, "last_checkpoint")) as f:
        tag = f.read().strip()
    require(tag == f"model_{kill_iter:07d}.pth", f"last_checkpoint names {tag}, expected model_{kill_iter:07d}.pth")
    saved = torch.load(os.path.join(out_dir, tag), map_location="cpu", weights_only=False)

    resumed = DefaultTrainer(cfg)
    resumed.resume_or_load(resume=True)
    require(resumed.start_iter == kill_iter, f"resumed after iteration {resumed.start_iter}, expected {kill_iter}")
    state = resumed.plain_model.state_dict()
    different = [k for k, v in saved["model"].items() if not torch.equal(state[k].cpu(), v)]
    require(not different,
            f"{len(different)} model tensors differ from the checkpoint after resume, e.g. {different[:3]}")
    optimizer_state = resumed.optimizer.state_dict()["state"]
    different = [k for k, s in saved["optimizer"]["state"].items()
                 if any(not torch.equal(optimizer_state[k][n].cpu(), t.cpu()) for n, t in s.items())]
    require(not different, f"optimizer state of {len(different)} parameters differs from the checkpoint after resume")
    lrs = [g["lr"] for g in resumed.optimizer.param_groups]
    require(lrs == [g["lr"] for g in saved["optimizer"]["param_groups"]], f"LR after resume {lrs} differs")
    details = {"iterations": resumed.max_iter, "killed after iteration": kill_iter,
               "resumed after iteration": resumed.start_iter, "autocast": str(resumed.trainer.amp_dtype)}
    if resumed.trainer.grad_scaler is not None:
        scale = resumed.trainer.grad_scaler.get_scale()
        require(scale == saved["trainer"]["grad_scaler"]["scale"],
                f"GradScaler scale {scale} after resume, checkpoint holds {saved['trainer']['grad_scaler']['scale']}")
        details["grad scale at resume"] = scale
    del saved, state, optimizer_state

    second_timer = StepTimer()
    resumed.trainer.register_hooks([second_timer])
    start = time.perf_counter()
    results = resumed.train()
    second_seconds = time.perf_counter() - start
    require(resumed.trainer.iter == resumed.max_iter, f"stopped at {resumed.trainer.iter} of {resumed.max_iter}")
    latest = resumed.trainer.storage.latest()
    require("loss_cont" in latest and "loss_aid" in latest, f"PartMix's losses were not active: {sorted(latest)}")
    losses = {k: v for k, (v, _) in latest.items() if k.startswith("loss") or k == "total_loss"}
    require(all(math.isfinite(v) for v in losses.values()), f"non-finite losses at the end: {losses}")
    require(bool(results), "the end-of-training evaluation returned no results")
    group, metrics = next(iter(results.items()))
    metrics = _numeric(metrics)
    require(all(math.isfinite(v) for v in metrics.values()), f"non-finite metrics: {metrics}")
    with open(os.path.join(out_dir, "last_checkpoint")) as f:
        require(f.read().strip() == "model_final.pth", "last_checkpoint does not name model_final.pth at the end")
    if check.cuda:
        details["peak GPU memory GiB"] = round(torch.cuda.max_memory_allocated() / 2**30, 2)

    batch = check.profile.identities * check.profile.instances
    step = statistics.median(first_timer.times[1:] + second_timer.times[1:])
    details.update({
        "median step ms (real loader, hooks)": round(step * 1000, 1), "images/s": round(batch / step, 1),
        "wall s before the kill / after the resume (incl. evaluation)": f"{first_seconds:.1f} / {second_seconds:.1f}",
        "total_loss at the kill / at the end": f"{first_losses['total_loss'][0]:.3f} / {latest['total_loss'][0]:.3f}",
        "final losses": {k: round(v, 4) for k, v in losses.items()},
        f"evaluation ({group})": {k: round(v, 2) for k, v in metrics.items() if not k.endswith("_std")},
        "result groups": list(results),
    })
    check.artifacts[f"{amp}_run"] = {"cfg": resumed.cfg, "final": os.path.join(out_dir, "model_final.pth"),
                                     "results": results}
    del resumed
    summary = (f"{details['iterations']} it, killed and resumed exactly after {kill_iter}; "
               f"{details['images/s']} images/s; {group} Rank-1 {metrics['Rank-1']:.1f} mAP {metrics['mAP']:.1f}")
    return summary, details


def section_train_bf16(check: GpuCheck):
    p = check.profile
    summary, details = _train_kill_resume_evaluate(check, "bf16", p.iters_per_epoch, p.epochs, p.kill_epoch)
    if not check.cuda:
        summary += " (CPU: AMP is ignored, fp32)"
    return summary, details


def section_train_fp16(check: GpuCheck):
    p = check.profile
    return _train_kill_resume_evaluate(check, "fp16", p.fp16_iters_per_epoch, p.fp16_epochs, p.fp16_kill_epoch)


def section_eval_checkpoint(check: GpuCheck):
    """--eval-only of model_final.pth (the tool's path) must give the end-of-training results."""
    run = check.artifacts.get("bf16_run")
    require(run is not None, "needs the final checkpoint of section train_bf16, which did not finish")
    cfg = run["cfg"]
    model = build_model(cfg)
    ReidCheckpointer(model).load(run["final"], checkpointables=[])
    start = time.perf_counter()
    results = DefaultTrainer.test(cfg, model)
    seconds = time.perf_counter() - start
    require(list(results) == list(run["results"]), f"--eval-only gave groups {list(results)}, the end-of-training "
                                                   f"evaluation {list(run['results'])}")
    worst = 0.0
    for group, metrics in run["results"].items():
        for name, value in _numeric(metrics).items():
            worst = max(worst, abs(results[group][name] - value))
    require(worst <= 0.5, f"--eval-only results differ from the end-of-training evaluation by {worst:.3f} points")
    group, metrics = next(iter(results.items()))
    return (f"{group} Rank-1 {metrics['Rank-1']:.2f} mAP {metrics['mAP']:.2f}, largest difference {worst:.4f} "
            f"points, {seconds:.1f} s"), {"largest metric difference (points)": worst, "seconds": round(seconds, 1)}


def _materialised_scores(parts, global_desc, swap, mix_global, scale, shift, weight, donor_chunk):
    """Every candidate built explicitly with partmix.mining.materialise_candidates (a chunk of
    donors at a time), then BN-neck, classifier, entropy and cosine to its anchor: (N, N, R) each."""
    n, m, _ = parts.shape
    anchors = torch.cat([parts.flatten(1), global_desc], dim=1)
    entropies, similarities = [], []
    for j0 in range(0, n, donor_chunk):
        j1 = min(j0 + donor_chunk, n)
        donors = torch.arange(j0, j1, device=parts.device).repeat_interleave(m)[None].expand(n, -1)
        part_sets = swap[:, j0:j1].reshape(n, (j1 - j0) * m, m)
        mixed = materialise_candidates(parts, global_desc, donors, part_sets, mix_global)
        logits = (mixed * scale + shift) @ weight.T
        entropies.append(prediction_entropy(logits).view(n, j1 - j0, m))
        similarities.append(F.cosine_similarity(anchors[:, None, :], mixed, dim=-1).view(n, j1 - j0, m))
    return torch.cat(entropies, dim=1), torch.cat(similarities, dim=1)


def section_mining(check: GpuCheck):
    """Factorised candidate scoring (what PartMix mines with) against every candidate built
    explicitly, at the training batch's size, on the device: float64 must agree to rounding;
    float32 (the mixer's precision) must pick candidates as good as the exact ones."""
    p, device = check.profile, check.device
    n, m, c = p.identities * p.instances, p.num_parts, p.mining_channels
    k = p.train_ids
    dim = (m + 1) * c
    g = torch.Generator().manual_seed(0)
    # non-negative like pooled ReLU features; classifier rows of norm ~1
    parts = torch.rand(n, m, c, generator=g, dtype=torch.float64).to(device)
    global_desc = torch.rand(n, c, generator=g, dtype=torch.float64).to(device)
    weight = (torch.randn(k, dim, generator=g, dtype=torch.float64) / math.sqrt(dim)).to(device)
    bn = torch.nn.BatchNorm1d(dim).double().to(device)
    with torch.no_grad():
        bn.weight.copy_(torch.rand(dim, generator=g, dtype=torch.float64) + 0.5)
        bn.bias.copy_(torch.randn(dim, generator=g, dtype=torch.float64))
    targets = torch.arange(n, device=device) // p.instances
    modalities = torch.arange(n, device=device) % 2
    pos_pairs, neg_pairs = candidate_masks(targets, modalities, inter=True, intra=True)
    allowed = {"pos": pos_pairs[:, :, None].expand(n, n, m).reshape(n, -1),
               "neg": neg_pairs[:, :, None].expand(n, n, m).reshape(n, -1)}
    partmix = check.make_cfg(PARTMIX_CFG).PARTMIX
    counts = {"pos": partmix.NUM_POS, "neg": partmix.NUM_NEG}
    real = torch.cat([parts.flatten(1), global_desc], dim=1)
    mean, var = bn_statistics(bn, real)
    scale, shift = bn_affine(bn, mean, var)
    details, worst = {}, {}
    for num_swap, mix_global in ((1, "anchor"), (min(2, m), "mean_of_parts")):
        swap = random_part_swaps(n, m, num_swap, torch.Generator().manual_seed(1), device)
        label = f"NUM_SWAP {num_swap}, {mix_global}"
        _sync()
        start = time.perf_counter()
        exact_entropy, exact_similarity = _materialised_scores(parts, global_desc, swap, mix_global, scale, shift,
                                                               weight, donor_chunk=8)
        _sync()
        materialised_s = time.perf_counter() - start
        entropy64 = candidate_entropies(parts, global_desc, swap, mix_global, scale, shift, weight, anchor_chunk=32)
        similarity64 = candidate_similarities(parts, global_desc, swap, mix_global)
        errors = {"entropy fp64": float((entropy64 - exact_entropy).abs().max()),
                  "cosine fp64": float((similarity64 - exact_similarity).abs().max())}
        # float32, as PartMix.mix_descriptors calls it
        args32 = (parts.float(), global_desc.float(), swap, mix_global, scale.float(), shift.float(), weight.float())
        _sync()
        start = time.perf_counter()
        entropy32 = candidate_entropies(*args32, anchor_chunk=32)
        _sync()
        factorised_s = time.perf_counter() - start
        errors["entropy fp32"] = float((entropy32.double() - exact_entropy).abs().max())
        errors["mined entropy gap fp32"] = _mining_gap(entropy32, exact_entropy, allowed, counts)
        if check.cuda:  # the training forward runs the mixer inside autocast: report what that costs
            with torch.autocast("cuda", dtype=torch.bfloat16):
                entropy_autocast = candidate_entropies(*args32, anchor_chunk=32)
            details[f"{label}: entropy error under autocast bf16 (info)"] = \
                f"{float((entropy_autocast.double() - exact_entropy).abs().max()):.2e}"
            details[f"{label}: mined entropy gap under autocast bf16 (info)"] = \
                f"{_mining_gap(entropy_autocast, exact_entropy, allowed, counts):.2e}"
        for name, value in errors.items():
            details[f"{label}: {name}"] = f"{value:.2e}"
            worst[name] = max(worst.get(name, 0.0), value)
        details[f"{label}: factorised fp32 / materialised fp64 seconds"] = f"{factorised_s:.4f} / {materialised_s:.3f}"
        del exact_entropy, exact_similarity, entropy64, similarity64, entropy32
        _free_device_memory()
    require(worst["entropy fp64"] <= 1e-9 and worst["cosine fp64"] <= 1e-9,
            f"factorised float64 scores differ from the materialised ones: {worst}")
    require(worst["entropy fp32"] <= 1e-3, f"float32 entropies are off by {worst['entropy fp32']:.2e} (> 1e-3)")
    require(worst["mined entropy gap fp32"] <= 1e-3,
            f"float32 mining picks candidates {worst['mined entropy gap fp32']:.2e} worse than the exact choice")
    details["sizes"] = f"N {n}, M {m}, C {c}, K {k} ({n * n * m} candidates per batch)"
    return (f"N {n}, M {m}, C {c}, K {k}: fp64 error {max(worst['entropy fp64'], worst['cosine fp64']):.1e}, "
            f"fp32 entropy error {worst['entropy fp32']:.1e}"), details


def _mining_gap(entropy, exact_entropy, allowed, counts) -> float:
    """How much worse, in exact entropy, the least good candidate mined from `entropy` is than
    the least good of the exact choice (positives: the NUM_POS lowest entropies; negatives: the
    NUM_NEG highest). 0 when equally good candidates are picked, so ties do not count."""
    n = entropy.shape[0]
    scores, exact = entropy.reshape(n, -1).float(), exact_entropy.reshape(n, -1)
    gap = 0.0
    for kind, largest in (("pos", False), ("neg", True)):
        picked, valid = select_candidates(scores, allowed[kind], counts[kind], largest)
        best, _ = select_candidates(exact, allowed[kind], counts[kind], largest)
        got, want = exact.gather(1, picked), exact.gather(1, best)
        if largest:
            worse = want.masked_fill(~valid, math.inf).min(1).values - got.masked_fill(~valid, math.inf).min(1).values
        else:
            worse = got.masked_fill(~valid, -math.inf).max(1).values - want.masked_fill(~valid, -math.inf).max(1).values
        rows = valid.any(dim=1)
        if rows.any():
            gap = max(gap, float(worse[rows].max()))
    return gap


def section_onnx(check: GpuCheck):
    """Export the trained PartMix model; onnxruntime (CPU) must give the features that PyTorch
    computes on the device and on the CPU."""
    try:
        import onnxruntime
    except ImportError as e:
        raise missing_extra("onnxruntime", "export", "The ONNX section") from e

    p = check.profile
    run = check.artifacts.get("bf16_run")
    cfg = run["cfg"].clone() if run else check.make_cfg(PARTMIX_CFG, **{"MODEL.NUM_CLASSES": p.train_ids})
    model = build_model(cfg)
    if run:
        ReidCheckpointer(model).load(run["final"], checkpointables=[])
    model.eval()
    images = torch.randint(0, 256, (p.onnx_images, 3, *p.size), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    with torch.no_grad(), strict_fp32():
        device_features = model({"images": images}).float().cpu().numpy()
    path = os.path.join(check.work, "partmix.onnx")
    start = time.perf_counter()
    export_onnx(model, path, list(p.size))  # moves the model to the CPU
    export_s = time.perf_counter() - start
    cpu_difference = onnx_max_abs_difference(model, path, images)
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (onnx_features,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})
    device_difference = float(np.abs(onnx_features - device_features).max())
    scale = float(np.abs(device_features).max())
    tolerance = 1e-3 * max(scale, 1.0)
    details = {"weights": run["final"] if run else "random init (train_bf16 did not finish)",
               "feature scale (max |f|)": f"{scale:.3g}", "ONNX vs PyTorch CPU": f"{cpu_difference:.2e}",
               f"ONNX vs PyTorch {check.device.type} (no TF32)": f"{device_difference:.2e}",
               "tolerance": f"{tolerance:.2e}", "export s": round(export_s, 1),
               "file MB": round(os.path.getsize(path) / 2**20, 1)}
    require(cpu_difference <= tolerance and device_difference <= tolerance,
            f"ONNX features differ from PyTorch's: CPU {cpu_difference:.2e}, {check.device.type} "
            f"{device_difference:.2e} (tolerance {tolerance:.2e})")
    return (f"max |ONNX - PyTorch|: {device_difference:.1e} vs {check.device.type}, {cpu_difference:.1e} vs CPU "
            f"(feature scale {scale:.2g})"), details


def section_speed_model_only(check: GpuCheck):
    return check.speed_runs([
        SpeedRun("baseline_model_only", "baseline", "model-only", estimate_s=8),
        SpeedRun("partmix_model_only", "PartMix", "model-only", estimate_s=8),
    ])


def section_speed_end_to_end(check: GpuCheck):
    """Loader alone, then PartMix and the baseline with the real loader (--workers processes),
    and PartMix with the config's DATALOADER.NUM_WORKERS; checks that batches arrive pinned."""
    p = check.profile
    dataset = check.dataset()
    cfg = check.make_cfg(PARTMIX_CFG, **{"DATALOADER.NUM_WORKERS": 0})
    batch = next(iter(build_train_loader(cfg, dataset)))
    if check.cuda:
        require(batch["images"].is_pinned(), "the training loader's batches are not in pinned memory on CUDA")
    cfg = check.make_cfg(PARTMIX_CFG)
    seconds = time_loader(cfg, dataset, SimpleNamespace(warmup=p.warmup), batches=p.loader_batches)
    batch_size = p.identities * p.instances
    check.add_speed({"key": "loader_only", "model": "-", "mode": "loader-only", "amp": "-", "channels_last": "-",
                      "compile": "-", "workers": check.workers, "ms_per_step": round(seconds * 1000, 1),
                      "images_per_s": round(batch_size / seconds, 1), "peak_gib": None, "warmup_s": None,
                      "steps": f"{p.loader_batches} batches", "status": "ok"})
    check.say(f"  loader_only: {batch_size / seconds:.0f} images/s with {check.workers} workers")
    config_workers = int(setup_cfg(PARTMIX_CFG, freeze=False).DATALOADER.NUM_WORKERS)
    summary, details = check.speed_runs([
        SpeedRun("partmix_e2e", "PartMix", "end-to-end", estimate_s=12),
        SpeedRun("baseline_e2e", "baseline", "end-to-end", estimate_s=12),
        SpeedRun("partmix_e2e_config_workers", "PartMix", "end-to-end", workers=config_workers, estimate_s=12),
    ])
    details["batches pinned"] = bool(batch["images"].is_pinned())
    return summary + f"; loader alone {batch_size / seconds:.0f} images/s", details


def _sysu_sized_test_set(dataset, scale: float) -> ReidDataset:
    """SynthVI's test items cycled to SYSU-MM01's test-set size (3,803 infrared queries, 6,775
    visible images) times `scale`: the real loader, model and SYSU evaluator then do the work
    of a SYSU evaluation."""
    infrared = [it for it in dataset.test if it.modality == INFRARED]
    visible = [it for it in dataset.test if it.modality == VISIBLE]
    queries, pool = max(1, round(SYSU_QUERIES * scale)), max(1, round(SYSU_VISIBLE * scale))
    items = list(itertools.islice(itertools.cycle(infrared), queries))
    items += list(itertools.islice(itertools.cycle(visible), pool))
    return ReidDataset(dataset.root, dataset.train, items)


def section_sysu_eval(check: GpuCheck):
    """The whole SYSU evaluation at its real size (10 trials, all and indoor search): decode,
    features on the device, then the protocol; plus model-only inference features/s."""
    p = check.profile
    cfg = check.make_cfg(PARTMIX_CFG)
    cfg.MODEL.NUM_CLASSES = check.num_classes()
    sysu = _sysu_sized_test_set(check.dataset(), p.sysu_scale)
    model = build_model(cfg).eval()
    images = torch.randint(0, 256, (p.test_batch, 3, *p.size), dtype=torch.uint8).to(check.device)
    with torch.no_grad():
        for _ in range(2):
            model({"images": images})
        _sync()
        start = time.perf_counter()
        for _ in range(p.inference_batches):
            model({"images": images})
        _sync()
    model_only = p.inference_batches * p.test_batch / (time.perf_counter() - start)

    evaluator = SYSUEvaluator(cfg, sysu)
    _sync()
    start = time.perf_counter()
    results = inference_on_dataset(model, build_test_loader(cfg, sysu), evaluator)
    _sync()
    total = time.perf_counter() - start
    start = time.perf_counter()
    evaluator.evaluate()  # the protocol alone, on the features the evaluator kept
    protocol = time.perf_counter() - start
    groups = [f"{mode}_search_{shots}shot" for mode in cfg.TEST.SYSU.MODES for shots in cfg.TEST.SYSU.SHOTS]
    require(list(results) == groups, f"result groups {list(results)}, expected {groups}")
    require(all(math.isfinite(v) for metrics in results.values() for v in _numeric(metrics).values()),
            "non-finite metrics")
    n = len(sysu.test)
    extraction = total - protocol
    check.other["inference, model only (eval forward, synthetic batch on the device)"] = \
        f"{model_only:.0f} features/s (batch {p.test_batch})"
    check.other[f"SYSU-sized evaluation, {cfg.TEST.NUM_TRIALS} trials ({n} images, {check.workers} workers)"] = \
        f"{total:.1f} s: features {extraction:.1f} s ({n / extraction:.0f} images/s), protocol {protocol:.1f} s"
    details = {"test images": n, "queries": sum(it.modality == INFRARED for it in sysu.test),
               "feature dim": (p.num_parts + 1) * (2048 if p.depth >= 50 else 512),
               "total s": round(total, 2), "feature extraction s": round(extraction, 2),
               "protocol s": round(protocol, 2), "model-only features/s": round(model_only, 1),
               "loader + model features/s": round(n / extraction, 1)}
    return (f"{n} images in {total:.1f} s (protocol {protocol:.1f} s); model-only {model_only:.0f} features/s"), details


def section_sysu_eval_cuda_features(check: GpuCheck):
    """SYSUEvaluator.compute with the features left on the GPU (the engine moves them to the
    CPU first): must give the CPU's metrics; times both."""
    p = check.profile
    cfg = check.make_cfg(PARTMIX_CFG)
    sysu = _sysu_sized_test_set(check.dataset(), p.sysu_scale)
    evaluator = SYSUEvaluator(cfg, sysu)
    dim = (p.num_parts + 1) * (2048 if p.depth >= 50 else 512)
    features = torch.randn(len(sysu.test), dim, generator=torch.Generator().manual_seed(0))
    start = time.perf_counter()
    on_cpu = evaluator.compute(features)
    cpu_s = time.perf_counter() - start
    features = features.to(check.device)
    _sync()
    start = time.perf_counter()
    on_gpu = evaluator.compute(features)
    _sync()
    gpu_s = time.perf_counter() - start
    worst = max(abs(on_gpu[g][k] - v) for g, metrics in on_cpu.items() for k, v in _numeric(metrics).items())
    require(worst <= 1e-3, f"metrics with features on the GPU differ from the CPU's by {worst:.2e}")
    check.other["SYSU protocol on random features: CPU vs GPU"] = f"{cpu_s:.2f} s vs {gpu_s:.2f} s"
    return f"same metrics (largest difference {worst:.1e}); CPU {cpu_s:.2f} s, GPU {gpu_s:.2f} s", {
        "cpu s": round(cpu_s, 2), "gpu s": round(gpu_s, 2), "largest difference": worst}


class LossRecorder(HookBase):
    """The total loss of every step, as the exact float the trainer stored."""

    def __init__(self):
        self.losses = []

    def after_step(self):
        self.losses.append(self.trainer.storage.latest()["total_loss"][0])


def _deterministic_steps(check: GpuCheck, deterministic: bool, steps: int) -> tuple:
    """PartMix model-only (bf16) for `steps` SimpleTrainer steps from the config's seed with
    DETERMINISTIC on or off: (losses, parameter checksum, median s/step)."""
    cfg = check.make_cfg(PARTMIX_CFG, DETERMINISTIC=deterministic)
    cfg.MODEL.NUM_CLASSES = check.num_classes()
    configure_determinism(deterministic, cfg.CUDNN_BENCHMARK, check.device.type)
    try:
        batch = synthetic_batch(cfg, cfg.MODEL.NUM_CLASSES)
        seed_all_rng(cfg.SEED)
        model = build_model(cfg)
        amp_dtype, needs_scaler = amp_settings(cfg, check.device)
        trainer = SimpleTrainer(model, lambda start_iter: itertools.repeat(batch), build_optimizer(cfg, model),
                                seed=cfg.SEED, amp_dtype=amp_dtype,
                                grad_scaler=torch.amp.GradScaler("cuda") if needs_scaler else None)
        recorder, timer = LossRecorder(), StepTimer()
        trainer.register_hooks([recorder, timer])
        trainer.train(0, steps)
        checksum = float(sum(p.detach().double().sum() for p in model.parameters()))
        del trainer, model
        _free_device_memory()
        return recorder.losses, checksum, statistics.median(timer.times[2:] or timer.times)
    finally:
        configure_determinism(False, cfg.CUDNN_BENCHMARK, check.device.type)


def section_deterministic(check: GpuCheck):
    """DETERMINISTIC True on the device: two runs from one seed give the same losses and weights
    bit for bit; also its step time against the default (DETERMINISTIC False)."""
    steps = check.profile.warmup + check.profile.timed
    first = _deterministic_steps(check, True, steps)
    second = _deterministic_steps(check, True, steps)
    default = _deterministic_steps(check, False, steps)
    require(first[0] == second[0], f"losses differ between two deterministic runs: {first[0]} vs {second[0]}")
    require(first[1] == second[1], f"weights differ between two deterministic runs ({first[1]!r} vs {second[1]!r})")
    ratio = first[2] / default[2]
    default_repeats = default[0] == first[0]
    check.other["DETERMINISTIC True / False step time (PartMix, model only)"] = f"{ratio:.2f}x"
    return (f"{steps} steps repeat bit for bit; step {first[2] * 1e3:.1f} ms vs {default[2] * 1e3:.1f} ms "
            f"without ({ratio:.2f}x); the default run {'matches' if default_repeats else 'differs from'} them"), {
        "steps": steps, "deterministic ms": round(first[2] * 1e3, 1), "default ms": round(default[2] * 1e3, 1),
        "ratio": round(ratio, 3), "default equals deterministic": default_repeats}


def section_speed_amp(check: GpuCheck):
    return check.speed_runs([
        SpeedRun("baseline_model_only_fp32", "baseline", "model-only", amp="off", estimate_s=12),
        SpeedRun("partmix_model_only_fp32", "PartMix", "model-only", amp="off", estimate_s=12),
        SpeedRun("partmix_model_only_fp16", "PartMix", "model-only", amp="fp16", estimate_s=8),
    ])


def section_speed_channels_last(check: GpuCheck):
    return check.speed_runs([
        SpeedRun("baseline_model_only_nchw", "baseline", "model-only", channels_last=False, estimate_s=8),
        SpeedRun("partmix_model_only_nchw", "PartMix", "model-only", channels_last=False, estimate_s=8),
    ])


def section_speed_compile(check: GpuCheck):
    return check.speed_runs([
        SpeedRun("partmix_model_only_compile", "PartMix", "model-only", compile=True, estimate_s=90),
        SpeedRun("baseline_model_only_compile", "baseline", "model-only", compile=True, estimate_s=70),
    ])


def section_speed_end_to_end_fp32(check: GpuCheck):
    return check.speed_runs([
        SpeedRun("partmix_e2e_fp32", "PartMix", "end-to-end", amp="off", estimate_s=20),
        SpeedRun("baseline_e2e_fp32", "baseline", "end-to-end", amp="off", estimate_s=20),
    ])


AMP_ONLY = "AMP, its dtypes and the GradScaler exist on CUDA only (the engine trains in fp32 on the CPU)"
SECTIONS = [
    Section("environment", "a device matmul against the CPU (versions: env.txt)", section_environment, 5),
    Section("dataset", "generate the SYSU-sized SynthVI", section_dataset, 25),
    Section("train_bf16", "PartMix AMP bf16: train, kill after a checkpoint, --resume, evaluate",
            section_train_bf16, 50),
    Section("eval_checkpoint", "--eval-only of model_final.pth reproduces the evaluation", section_eval_checkpoint, 10),
    Section("train_fp16", "PartMix fp16 + GradScaler: train, kill, --resume, evaluate", section_train_fp16, 25,
            needs_cuda=AMP_ONLY),
    Section("mining", "factorised PartMix mining vs materialised candidates on the device", section_mining, 10),
    Section("onnx", "ONNX export parity with the device's features", section_onnx, 30),
    Section("speed_model_only", "model-only training step, baseline and PartMix, bf16", section_speed_model_only, 8),
    Section("speed_end_to_end", "loader alone; end to end with the real loader", section_speed_end_to_end, 30),
    Section("sysu_eval", "SYSU-sized 10-trial evaluation; inference features/s", section_sysu_eval, 30),
    Section("sysu_eval_cuda_features", "SYSU protocol with features left on the GPU (not the engine's path)",
            section_sysu_eval_cuda_features, 10, needs_cuda="features on the GPU need one"),
    Section("deterministic", "DETERMINISTIC True: two runs bit for bit equal; its cost", section_deterministic, 15),
    Section("speed_amp", "model-only with AMP off (fp32) and with fp16 + GradScaler", section_speed_amp, 12,
            needs_cuda=AMP_ONLY),
    Section("speed_channels_last", "model-only with channels_last off", section_speed_channels_last, 8),
    Section("speed_compile", "model-only with torch.compile (bf16)", section_speed_compile, 70,
            needs_cuda="the engine compiles on CUDA only (SOLVER.COMPILE is ignored on the CPU)"),
    Section("speed_end_to_end_fp32", "end to end with AMP off", section_speed_end_to_end_fp32, 20,
            needs_cuda=AMP_ONLY),
]


# --------------------------------------------------------------------------- helpers


def _numeric(metrics: dict) -> Dict[str, float]:
    """The numbers of a result group (groups may also hold text, e.g. SYSU's "draw")."""
    return {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def _amp_name(amp_dtype, needs_scaler, device) -> str:
    if amp_dtype is None:
        return "off" if device.type == "cuda" else "off (CPU)"
    return {torch.bfloat16: "bf16", torch.float16: "fp16"}[amp_dtype] + (" + scaler" if needs_scaler else "")


def _device_name(device) -> str:
    if device.type == "cuda":
        return f"{torch.cuda.get_device_name(device)} (cuda)"
    return f"{_cpu_name()}, {os.cpu_count()} cores (cpu)"


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def _git_commit() -> str:
    try:
        return subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True,
                              timeout=10).stdout.strip() or "unknown (no git checkout)"
    except (OSError, subprocess.SubprocessError):
        return "unknown (no git)"


def _nvidia_smi(query: str) -> str:
    try:
        out = subprocess.run(["nvidia-smi", f"--query-gpu={query}", "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown (no nvidia-smi)"


def _default_workers() -> int:
    """Loader processes for the end-to-end rows: most of the cores, a few left to the main
    process and its pin-memory thread."""
    return max(1, min(12, (os.cpu_count() or 2) - 4))


def _atomic_write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", help="folder for results.md, results.json, env.txt, log.txt (only these)")
    parser.add_argument("--work-dir", default="",
                        help="scratch folder for the dataset, checkpoints and ONNX file (default: a temporary "
                             "folder, removed at the end); must not be inside --out")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--quick", action="store_true",
                        help="reduced sizes (ResNet-18, 64x32, batch 2 x 4, a few iterations): the CPU smoke test")
    parser.add_argument("--budget", type=float, default=None,
                        help="seconds for all sections (default 420 on CUDA, 600 on the CPU)")
    parser.add_argument("--grace", type=float, default=20.0,
                        help="seconds a running section may overrun the budget before it is stopped")
    parser.add_argument("--workers", type=int, default=None,
                        help="loader processes for end-to-end training and evaluation (default: cores - 4, at most "
                             "12; 1 with --quick)")
    parser.add_argument("--gen-workers", type=int, default=None,
                        help="processes generating SynthVI (default: all cores)")
    parser.add_argument("--only", default="", help="comma-separated section names to run (default: all)")
    parser.add_argument("--list", action="store_true", help="print the sections and exit")
    args = parser.parse_args(argv)
    if args.list:
        return args
    if not args.out:
        parser.error("--out is required")
    if args.device == "cuda" and not torch.cuda.is_available():
        parser.error("--device cuda, but torch sees no CUDA device; use --device cpu (with --quick for the smoke test)")
    if args.budget is None:
        args.budget = 420.0 if args.device == "cuda" else 600.0
    if args.gen_workers is None:
        args.gen_workers = os.cpu_count() or 1
    out, work = os.path.abspath(args.out), os.path.abspath(args.work_dir) if args.work_dir else ""
    if work and (work == out or work.startswith(out + os.sep)):
        parser.error(f"--work-dir {work} is inside --out {out}: datasets and checkpoints must not land in --out")
    names = [s.name for s in SECTIONS]
    args.only = [s for s in args.only.split(",") if s]
    unknown = [s for s in args.only if s not in names]
    if unknown:
        parser.error(f"--only: unknown sections {unknown}; choose among {names}")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.list:
        for s in SECTIONS:
            print(f"{s.name:<26} {s.title}" + (" [CUDA only]" if s.needs_cuda else ""))
        return 0
    os.makedirs(args.out, exist_ok=True)
    for name in OUT_FILES:  # results of an earlier run in the same folder must not mix with this one's
        if os.path.exists(os.path.join(args.out, name)):
            os.remove(os.path.join(args.out, name))
    handler = logging.FileHandler(os.path.join(args.out, "log.txt"))
    handler.setFormatter(logging.Formatter("[%(asctime)s] %(name)s %(levelname)s: %(message)s", "%H:%M:%S"))
    root = logging.getLogger()
    root.setLevel(logging.INFO)
    root.addHandler(handler)
    check = GpuCheck(args)
    try:
        write_environment(check)
        status = check.run(SECTIONS, args.only)
        check.write()
        print("\n" + check.summary_markdown(check.state()), flush=True)
    finally:
        if not args.work_dir:
            shutil.rmtree(check.work, ignore_errors=True)
        root.removeHandler(handler)
        handler.close()
    return status


if __name__ == "__main__":
    sys.exit(main())
