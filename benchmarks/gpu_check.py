#!/usr/bin/env python
"""The one prepared GPU check: what a lent GPU must show, in the few minutes it is lent for.

    # on the GPU machine, from the repository root (no install needed):
    benchmarks/gpu_check.sh --method-config METHOD.yaml --out OUT   # a project's config: install the project first
    # the CPU mode (what tests/benchmarks/test_gpu_check.py runs), reduced sizes:
    python benchmarks/gpu_check.py --device cpu --quick --method-config CFG --out OUT

Sections, in this order, each skipped when the time left (--budget-s, 240 s by default, counted
after start-up) is less than it needs:
  environment     software, hardware, the cuBLAS workspace (set before CUDA starts)
  dataset         a SynthVI of about 2,000 images (about 15 s)
  loader          the training loader with 12 workers, pin_memory x persistent_workers: images/s
                  and the seconds its shutdown takes
  model_only      the baseline (--baseline-config) and the method (--method-config) training step
                  on a batch held on the device, bf16 on CUDA, timed with CUDA events
  end_to_end      the method's step with the real loader (12 workers, pinned)
  end_to_end_device_cache  the same with DATALOADER.DEVICE_CACHE (images on the GPU, augmented there)
  compile         the method's step under torch.compile: capped at 150 s, skipped under 180 s left
  fp16_scaler     the method's step in fp16 with the GradScaler: finite losses, the scale kept
  deterministic   DETERMINISTIC True: two runs of the same steps give bitwise-equal weights
  evaluation      the SYSU-sized evaluation (3,803 queries, 6,775 gallery images, 10 trials) in
                  fp32 and bf16
The speed grid is benchmarks/bench_train.py's, the evaluation timing bench_eval.py's. The method
is a config file: its PROJECTS are imported by the config, never by this script.

A watchdog thread (not SIGALRM, whose handler raises wherever the main thread happens to be,
__del__ included, where Python swallows it) stops a section at its cap or at the budget: it sends
the main thread SIGINT (a KeyboardInterrupt the section runner catches; the trainer closes its
loader on it), and if that does not return within GRACE_S, writes the results and ends the process. OUT/results.json is
rewritten after every section, so a killed run still leaves what it measured.
"""
import argparse
import itertools
import json
import os
import signal
import sys
import threading
import time
import traceback

import torch

from bench_eval import time_sysu_evaluation
from bench_train import EventTimer, bench_cfg, synthetic_batch, time_loader_grid, time_training
from partreid.data import build_dataset, build_train_loader
from partreid.data.synthvi import generate_synthvi
from partreid.engine.train_loop import SimpleTrainer, amp_settings
from partreid.modeling.meta_arch.build import build_model
from partreid.solver import build_optimizer
from partreid.utils.env import collect_env_info, configure_cublas_workspace, configure_determinism, seed_all_rng

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BASELINE_CFG = os.path.join(REPO, "configs", "sysu_mm01_baseline.yaml")
GOAL_STEP_RATIO = 1.15  # method model-only step / baseline step
GOAL_E2E_FRACTION = 0.90  # end-to-end images/s / model-only images/s
GRACE_S = 15.0  # how long an interrupted section gets to return before the process ends
# Full: the paper's size on a SynthVI of 96 + 16 identities x 6 cameras x 3 images (about 2,000).
FULL = dict(depth=50, size=(384, 128), batch=128, train_ids=96, test_ids=16, images_per_camera=3,
            image_size=(256, 128), workers=12, loader_batches=10, warmup=5, iters=20, e2e_iters=30,
            queries=3803, pool=6775, eval_batch=256)
QUICK = dict(depth=18, size=(64, 32), batch=8, train_ids=6, test_ids=4, images_per_camera=2, image_size=(64, 32),
             workers=2, loader_batches=2, warmup=1, iters=2, e2e_iters=2, queries=40, pool=60, eval_batch=16)


class SectionStopped(Exception):
    """The watchdog stopped the section (its cap or the budget)."""


class Check:
    def __init__(self, args):
        self.args, self.out = args, args.out
        self.profile = QUICK if args.quick else FULL
        self.device = torch.device(args.device)
        self.start = time.monotonic()
        self.results = {"device": str(self.device), "budget_s": args.budget_s, "profile": "quick" if args.quick else
                        "full", "method_config": args.method_config, "baseline_config": args.baseline_config,
                        "sections": {}}
        self.section, self.deadline = None, None
        self._dataset = None
        self._lock = threading.Lock()
        self.finished = threading.Event()  # ends the watchdog

    def remaining(self) -> float:
        return self.args.budget_s - (time.monotonic() - self.start)

    def write(self):
        with self._lock:
            path = os.path.join(self.out, "results.json")
            with open(path + ".tmp", "w") as f:
                json.dump(self.results, f, indent=1, default=str)
            os.replace(path + ".tmp", path)

    def record(self, name, **fields):
        self.results["sections"].setdefault(name, {}).update(fields)
        self.write()

    def run(self, name, fn, need_s, cap_s=None, cuda_only=False):
        """Run section `name` if `need_s` seconds are left, stopped after `cap_s` (and at the budget)."""
        if cuda_only and self.device.type != "cuda":
            return self.record(name, status="skipped: needs CUDA")
        if self.remaining() < need_s:
            return self.record(name, status=f"skipped: {self.remaining():.0f} s left, needs {need_s:.0f} s")
        print(f"[{time.monotonic() - self.start:6.1f} s] {name}", flush=True)
        started = time.monotonic()
        self.deadline = started + min(cap_s or float("inf"), max(self.remaining(), 0.0))
        self.section = name
        try:
            details = fn()
            status = "ok"
        except (KeyboardInterrupt, SectionStopped):
            details, status = None, f"stopped after {time.monotonic() - started:.0f} s (cap or budget)"
        except Exception as e:  # a failed section is recorded and the next one runs
            details, status = {"traceback": traceback.format_exc()}, f"failed: {type(e).__name__}: {e}"
        finally:
            self.section = None
        self.record(name, status=status, seconds=round(time.monotonic() - started, 1), details=details)

    # ------------------------------------------------------------------ building blocks
    def cfg(self, config_file, **overrides):
        p = self.profile
        opts = {"MODEL.DEVICE": self.device.type, "DATASETS.TRAIN": "SynthVI", "DATASETS.TEST": "SynthVI",
                "DATASETS.ROOT": self.args.work_dir, "DATASETS.SYNTHVI.NUM_TRAIN_IDS": p["train_ids"],
                "DATASETS.SYNTHVI.NUM_TEST_IDS": p["test_ids"], "DATASETS.SYNTHVI.AUTO_GENERATE": False,
                "DATASETS.SYNTHVI.IMAGES_PER_CAMERA": p["images_per_camera"],
                "DATASETS.SYNTHVI.IMAGE_SIZE": list(p["image_size"]), "DATALOADER.NUM_WORKERS": p["workers"],
                "MODEL.BACKBONE.PRETRAIN_PATH": "", "MODEL.BACKBONE.ALLOW_RANDOM_INIT": True,  # offline machine
                "OUTPUT_DIR": os.path.join(self.args.work_dir, "output"), **overrides}
        sizes = argparse.Namespace(depth=p["depth"], size=list(p["size"]), batch=p["batch"], warmup=p["warmup"],
                                   iters=p["iters"], opts=[str(x) for kv in opts.items() for x in kv])
        cfg = bench_cfg(config_file, sizes)
        if self._dataset is not None:
            cfg.MODEL.NUM_CLASSES = self._dataset.num_train_pids
        return cfg, sizes

    def step_time(self, config_file, data_fn=None, iters=None, **overrides) -> dict:
        """Training step of `config_file` (on a batch held on the device unless `data_fn`): ms and
        images/s, the median of the steps after the warm-up, from CUDA events."""
        cfg, sizes = self.cfg(config_file, **overrides)
        if iters is not None:
            sizes.iters = iters
        if data_fn is None:
            batch = {k: v.to(self.device) for k, v in synthetic_batch(cfg, cfg.MODEL.NUM_CLASSES).items()}
            data_fn = lambda start_iter: itertools.repeat(batch)  # noqa: E731
        seconds = time_training(cfg, data_fn, sizes, timer=EventTimer())
        amp, _ = amp_settings(cfg, self.device)
        return {"amp": str(amp or "fp32"), "ms_per_step": round(seconds * 1000, 2),
                "images_per_s": round(self.profile["batch"] / seconds, 1)}


# ---------------------------------------------------------------------- sections
def environment(check):
    check.results["environment"] = collect_env_info().splitlines()
    return {"cublas_workspace_config": os.environ.get("CUBLAS_WORKSPACE_CONFIG"),
            "torch": torch.__version__, "cuda": torch.version.cuda}


def dataset(check):
    p = check.profile
    start = time.perf_counter()
    summary = generate_synthvi(os.path.join(check.args.work_dir, "SynthVI"), num_train_ids=p["train_ids"],
                               num_test_ids=p["test_ids"], images_per_camera=p["images_per_camera"],
                               image_size=list(p["image_size"]), num_workers=min(8, os.cpu_count() or 1))
    generated = time.perf_counter() - start
    cfg, _ = check.cfg(check.args.method_config)
    check._dataset = build_dataset(cfg, "SynthVI")
    return {"images": summary["num_images"], "train_images": len(check._dataset.train),
            "train_ids": check._dataset.num_train_pids, "generate_s": round(generated, 1)}


def loader(check):
    cfg, _ = check.cfg(check.args.method_config)
    rows = time_loader_grid(cfg, check._dataset, check.profile["workers"], check.profile["loader_batches"])
    return {"rows": rows, "worst_close_s": max(row["close_s"] for row in rows)}


def model_only(check):
    baseline = check.step_time(check.args.baseline_config)
    check.record("model_only", details={"baseline": baseline})  # kept if the method's run is stopped
    method = check.step_time(check.args.method_config)
    ratio = method["ms_per_step"] / baseline["ms_per_step"]
    return {"baseline": baseline, "method": method, "method_over_baseline": round(ratio, 3),
            f"goal <= {GOAL_STEP_RATIO}": "PASS" if ratio <= GOAL_STEP_RATIO else "FAIL"}


def _end_to_end(check, **overrides):
    cfg, _ = check.cfg(check.args.method_config, **overrides)
    row = check.step_time(check.args.method_config, iters=check.profile["e2e_iters"],
                          data_fn=lambda start_iter: build_train_loader(cfg, check._dataset, start_iter), **overrides)
    model = (check.results["sections"].get("model_only", {}).get("details") or {}).get("method")
    if model:
        fraction = row["images_per_s"] / model["images_per_s"]
        row.update(fraction_of_model_only=round(fraction, 3),
                   **{f"goal >= {GOAL_E2E_FRACTION}": "PASS" if fraction >= GOAL_E2E_FRACTION else "FAIL"})
    return row


def end_to_end(check):
    return _end_to_end(check)


def end_to_end_device_cache(check):
    started = time.perf_counter()
    cfg, _ = check.cfg(check.args.method_config, **{"DATALOADER.DEVICE_CACHE": True})
    build_train_loader(cfg, check._dataset)  # decodes and uploads the training set once, kept with the dataset
    upload_s = time.perf_counter() - started
    return {"decode_and_upload_s": round(upload_s, 2), **_end_to_end(check, **{"DATALOADER.DEVICE_CACHE": True})}


def compiled(check):
    return check.step_time(check.args.method_config, **{"SOLVER.COMPILE": True})


def fp16_scaler(check):
    cfg, _ = check.cfg(check.args.method_config, **{"SOLVER.AMP.DTYPE": "fp16"})
    model = build_model(cfg)
    batch = {k: v.to(check.device) for k, v in synthetic_batch(cfg, cfg.MODEL.NUM_CLASSES).items()}
    scaler = torch.amp.GradScaler("cuda")
    trainer = SimpleTrainer(model, lambda start_iter: itertools.repeat(batch), build_optimizer(cfg, model), seed=0,
                            amp_dtype=torch.float16, grad_scaler=scaler)
    trainer.train(0, check.profile["iters"])  # raises FloatingPointError on a non-finite loss
    return {"steps": check.profile["iters"], "scale": scaler.get_scale(),
            "total_loss": trainer.storage.latest()["total_loss"][0]}


def deterministic(check):
    """Two runs of the same steps under DETERMINISTIC True: bitwise-equal weights (on CUDA an op
    without a deterministic kernel raises, which fails the section and names the op)."""
    cfg, _ = check.cfg(check.args.method_config, DETERMINISTIC=True)
    configure_determinism(True, False, check.device.type)
    try:
        runs = []
        for _ in range(2):
            seed_all_rng(0)
            model = build_model(cfg)
            batch = {k: v.to(check.device) for k, v in synthetic_batch(cfg, cfg.MODEL.NUM_CLASSES).items()}
            amp, _ = amp_settings(cfg, check.device)
            trainer = SimpleTrainer(model, lambda start_iter: itertools.repeat(batch), build_optimizer(cfg, model),
                                    seed=0, amp_dtype=amp)
            trainer.train(0, check.profile["iters"])
            runs.append([t.detach().cpu() for t in model.state_dict().values()])
        equal = all(torch.equal(a, b) for a, b in zip(*runs))
    finally:
        configure_determinism(False, True, check.device.type)
    if not equal:
        raise AssertionError("two DETERMINISTIC runs of the same steps gave different weights")
    return {"steps": check.profile["iters"], "bitwise_equal": equal}


def evaluation(check):
    cfg, _ = check.cfg(check.args.method_config)
    model = build_model(cfg)
    p = check.profile
    kinds = [("fp32", None)] + ([("bf16", torch.bfloat16)] if check.device.type == "cuda" else [])
    results = {}
    for name, dtype in kinds:
        results[name] = time_sysu_evaluation(model, p["size"], dtype, p["queries"], p["pool"], p["eval_batch"])
        check.record("evaluation", details=results)
    return results


SECTIONS = [  # (name, function, seconds it needs on an H100, cap, CUDA only)
    ("environment", environment, 1, None, False),
    ("dataset", dataset, 20, None, False),
    ("loader", loader, 15, 45, False),
    ("model_only", model_only, 20, 60, False),
    ("end_to_end", end_to_end, 10, 40, False),
    ("end_to_end_device_cache", end_to_end_device_cache, 10, 40, False),
    ("compile", compiled, 180, 150, True),
    ("fp16_scaler", fp16_scaler, 10, 30, True),
    ("deterministic", deterministic, 10, 40, False),
    ("evaluation", evaluation, 15, 60, False),
]


def watchdog(check, poll_s=0.2, grace_s=GRACE_S):
    """Interrupt the main thread when its section passes its deadline: a real SIGINT sent to it,
    which also breaks a blocking wait (a sleep, a join), where _thread.interrupt_main would wait
    for it to return; end the process (results written) when it does not return within grace_s."""
    while not check.finished.is_set():
        time.sleep(poll_s)
        name, deadline = check.section, check.deadline
        if name is None or time.monotonic() < deadline:
            continue
        if check.section != name:  # it returned meanwhile
            continue
        signal.pthread_kill(threading.main_thread().ident, signal.SIGINT)
        late = time.monotonic() + grace_s
        while check.section == name and time.monotonic() < late:
            time.sleep(poll_s)
        if check.section == name:
            check.record(name, status=f"killed: did not return {grace_s:.0f} s after its deadline")
            os._exit(3)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--method-config", required=True, metavar="FILE", help="YAML config of the method to time")
    parser.add_argument("--baseline-config", default=BASELINE_CFG, metavar="FILE", help="YAML config it is compared with")
    parser.add_argument("--out", required=True, help="folder for results.json")
    parser.add_argument("--work-dir", default=None, help="dataset and run outputs (default: OUT/work)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu", choices=["cuda", "cpu"])
    parser.add_argument("--budget-s", type=float, default=240.0, help="seconds of work after start-up")
    parser.add_argument("--quick", action="store_true", help="reduced sizes (the CPU mode)")
    parser.add_argument("--only", default="", help="comma-separated sections to run (dataset always runs)")
    args = parser.parse_args(argv)
    names = [name for name, *_ in SECTIONS]
    unknown = [s for s in args.only.split(",") if s and s not in names]
    if unknown:
        parser.error(f"--only: unknown sections {unknown}; the sections are {names}")
    args.work_dir = args.work_dir or os.path.join(args.out, "work")
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.device == "cuda":
        configure_cublas_workspace()  # before anything starts CUDA: the deterministic section needs it
    os.makedirs(args.out, exist_ok=True)
    check = Check(args)
    threading.Thread(target=watchdog, args=(check,), daemon=True).start()
    only = set(filter(None, args.only.split(","))) | {"environment", "dataset"}
    for name, fn, need, cap, cuda_only in SECTIONS:
        if args.only and name not in only:
            continue
        check.run(name, lambda fn=fn: fn(check), need_s=need * (0.05 if args.quick else 1.0), cap_s=cap,
                  cuda_only=cuda_only)
    check.finished.set()
    check.results["seconds"] = round(time.monotonic() - check.start, 1)
    check.write()
    print(json.dumps(check.results["sections"], indent=1, default=str)[:6000])
    return int(any(s["status"].startswith("failed") for s in check.results["sections"].values()))


if __name__ == "__main__":
    sys.exit(main())
