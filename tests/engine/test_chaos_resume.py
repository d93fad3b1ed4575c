"""Kill a tiny training run again and again, at chosen points of every kind of write and at random
moments, resume it each time, and check that its folder ends exactly as an uninterrupted run's:
checkpoints byte for byte (periodic, best, final), last_checkpoint, config.yaml, evaluations.json,
and metrics.json row for row (timings aside). Rows written before a stop and written again move
to metrics.json.repeated-* (and a restart from scratch keeps the earlier files under a dated
name): those side files are the only extra files allowed.

The kills use the engine's seam PARTREID_KILL_AT=POINT[@N] (partreid.utils.faults): the process
SIGKILLs itself the N-th time it reaches POINT. To stay fast, each run is a child forked from
this process (no interpreter start, no imports) training the BN-free PooledLinearReid model
(tests/engine/bn_free_reid.py, registered by importing it here) for 6 iterations: a checkpoint
(keeping 1) and an evaluation every 2."""
import fnmatch
import glob
import importlib.util
import json
import os
import random
import signal
import time

import pytest
import torch

import bn_free_reid  # noqa: F401  (registers PooledLinearReid)
from partreid.engine import default_argument_parser
from partreid.engine import run_folder
from partreid.utils import faults
from partreid.utils.testing import REPO_ROOT, TRAIN_NET, tiny_synthvi_opts

BASELINE_CONFIG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")
TIMING_FIELDS = ("time", "data_time")

# In the order the run reaches them, each from the state the kill before leaves (the comments
# say what the resumed process does before it dies).
TARGETED_KILLS = [
    "append:metrics.json@2",     # iteration 2's training row torn; no checkpoint yet
    "write:model_0000002.pth",   # restarts from scratch; dies writing the first periodic checkpoint
    "write:last_checkpoint",     # the checkpoint is written, not yet named as the one to resume from
    "append:metrics.json@3",     # the evaluation row of iteration 2 torn (checkpoint 2 is resumable)
    "write:model_best.pth",      # resumed after 2: evaluates again, dies saving the best checkpoint
    "write:evaluations.json",    # evaluates again, dies recording the evaluation
    "after:evaluation",          # evaluates again and records it: killed right after
    "write:model_0000004.pth",   # trains 3 and 4, dies writing the periodic checkpoint
    "write:metrics.json",        # dies while setting aside the rows of 3 and 4 (to be trained again)
    "after:evaluation",          # trains 3 and 4, evaluates, killed right after the record
    "write:model_final.pth",     # trains 5 and 6, dies writing model_final.pth
    "write:evaluations.json",    # resumed after the last iteration: final checkpoint copied, evaluation redone
    "after:evaluation",          # the final evaluation recorded: killed right after
]
RANDOM_KILLS = 10
MAX_ITER = 6


def run_opts(data_root, out_dir):
    return ["--resume", "--config-file", BASELINE_CONFIG, *tiny_synthvi_opts(data_root, out_dir, **{
        "MODEL.META_ARCHITECTURE": "PooledLinearReid", "SOLVER.MAX_EPOCHS": 3, "SOLVER.STEPS": "[2]",
        "SOLVER.MAX_TO_KEEP": 1, "TEST.NUM_TRIALS": 1, "TEST.SYSU.MODES": '["all"]',
        "TEST.PART_DISCOVERY.ENABLED": False})]


def iterations_done(folder):
    """How far a resume of `folder` starts: the iterations of its last checkpoint."""
    pointer = os.path.join(folder, "last_checkpoint")
    if not os.path.isfile(pointer):
        return 0
    with open(pointer) as f:
        name = f.read()
    return MAX_ITER if name == "model_final.pth" else int(name[len("model_"):-len(".pth")])


def _load_train_net():
    spec = importlib.util.spec_from_file_location("train_net_under_test", TRAIN_NET)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def start_run(argv, kill_at=None, error_file=None):
    """Fork a child that runs tools/train_net.py's main(argv); its pid. An exception's message
    goes to `error_file`."""
    train_net = _load_train_net()
    pid = os.fork()
    if pid:
        return pid
    code = 1
    try:
        torch.set_num_threads(1)
        os.environ.pop(faults.KILL_AT_ENV, None)
        if kill_at:
            os.environ[faults.KILL_AT_ENV] = kill_at
        args = default_argument_parser().parse_args(argv)
        train_net.main(args)
        run_folder.release_run_folder(args.opts[args.opts.index("OUTPUT_DIR") + 1])
        code = 0
    except BaseException as e:
        import traceback

        traceback.print_exc()
        if error_file:
            with open(error_file, "w") as f:
                f.write(f"{type(e).__name__}: {e}")
    finally:
        os._exit(code)


def wait(pid, kill_after=None):
    """The child's exit: its code, or -SIGNAL; SIGKILL it after `kill_after` seconds."""
    if kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                break
            time.sleep(0.005)
        else:
            os.kill(pid, signal.SIGKILL)
            _, status = os.waitpid(pid, 0)
    else:
        _, status = os.waitpid(pid, 0)
    return -os.WTERMSIG(status) if os.WIFSIGNALED(status) else os.WEXITSTATUS(status)


def metrics_rows(path):
    with open(path) as f:
        return [{k: v for k, v in json.loads(line).items() if k not in TIMING_FIELDS} for line in f]


EXTRA_ALLOWED = ("log.txt", "metrics.json.repeated-*", "metrics.json.2*", "evaluations.json.2*")


def assert_same_folder(reference, resumed):
    def canonical(folder):
        return sorted(f for f in os.listdir(folder)
                      if not any(fnmatch.fnmatch(f, pattern) for pattern in EXTRA_ALLOWED))

    assert canonical(resumed) == canonical(reference)
    for name in canonical(reference):
        a, b = os.path.join(reference, name), os.path.join(resumed, name)
        if name == "metrics.json":
            assert metrics_rows(b) == metrics_rows(a)
        elif name == "evaluations.json":
            with open(a) as fa, open(b) as fb:
                assert json.load(fb) == json.load(fa)
        elif name != ".run.lock":
            with open(a, "rb") as fa, open(b, "rb") as fb:
                expected = fa.read().replace(reference.encode(), resumed.encode()) if name == "config.yaml" else fa.read()
                assert fb.read() == expected, f"{name} differs from the uninterrupted run's"
    # model_best.pth is the best evaluation of evaluations.json
    with open(os.path.join(resumed, "evaluations.json")) as f:
        history = json.load(f)
    best = max(history, key=lambda e: e["results"]["all_search_1shot"]["mAP"])
    saved = torch.load(os.path.join(resumed, "model_best.pth"), map_location="cpu", weights_only=True)
    assert (saved["iteration"], saved["best_value"]) == (best["iteration"], best["results"]["all_search_1shot"]["mAP"])
    assert [e["iteration"] for e in history] == [2, 4, 6]


@pytest.mark.slow
def test_killed_anywhere_the_resumed_run_folder_equals_an_uninterrupted_run(tmp_path):
    data_root, reference = str(tmp_path / "data"), str(tmp_path / "reference")
    assert wait(start_run(run_opts(data_root, reference))) == 0  # also generates the dataset
    start = time.monotonic()  # how long a whole run takes, for the random moments
    assert wait(start_run(run_opts(data_root, str(tmp_path / "timed")))) == 0
    run_seconds = time.monotonic() - start

    targeted = str(tmp_path / "targeted")
    for point in TARGETED_KILLS:
        assert wait(start_run(run_opts(data_root, targeted), kill_at=point)) == -signal.SIGKILL, point
        assert not os.path.exists(os.path.join(targeted, "model_final.pth")) or point in (
            "write:evaluations.json", "after:evaluation")
    assert wait(start_run(run_opts(data_root, targeted))) == 0
    assert_same_folder(reference, targeted)
    assert not glob.glob(os.path.join(targeted, ".*.tmp"))

    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    # a moment within what is left of the run (judged by its last checkpoint), so that kills land
    # all along it; once it has finished, within what a resume of the finished run takes
    at_random, kills, finished_seconds = str(tmp_path / "random"), 0, run_seconds / MAX_ITER
    for _ in range(10 * RANDOM_KILLS):
        if kills == RANDOM_KILLS:
            break
        left = 1 - iterations_done(at_random) / MAX_ITER
        started = time.monotonic()
        code = wait(start_run(run_opts(data_root, at_random)),
                    kill_after=rng.uniform(0.0, run_seconds * left if left > 0 else finished_seconds))
        if code == -signal.SIGKILL:
            kills += 1
        else:
            assert code == 0, f"seed {seed}"
            finished_seconds = time.monotonic() - started
    assert kills == RANDOM_KILLS, f"seed {seed}"
    assert wait(start_run(run_opts(data_root, at_random))) == 0, f"seed {seed}"
    assert_same_folder(reference, at_random)


@pytest.mark.slow
def test_a_second_run_and_a_fresh_run_over_checkpoints_are_refused(tmp_path):
    data_root, out, error = str(tmp_path / "data"), str(tmp_path / "run"), str(tmp_path / "error.txt")
    fresh = [a for a in run_opts(data_root, out) if a != "--resume"]
    # the folder is in use (this process holds its lock): refused at once, naming the holder
    holder = run_folder.RunFolderLock(out)
    holder.acquire()
    assert wait(start_run(fresh, error_file=error)) == 1
    with open(error) as f:
        assert f"in use by process {os.getpid()} on host" in f.read()
    assert sorted(os.listdir(out)) == [".run.lock"]  # nothing written, not even a log
    holder.release()

    assert wait(start_run(fresh)) == 0
    final = open(os.path.join(out, "model_final.pth"), "rb").read()
    # the same command again: refused, nothing replaced
    assert wait(start_run(fresh, error_file=error)) == 1
    with open(error) as f:
        assert "holds the checkpoints of an earlier run" in f.read()
    assert open(os.path.join(out, "model_final.pth"), "rb").read() == final
    # --overwrite: the earlier checkpoints are deleted (and said so), the run starts again
    assert wait(start_run(fresh + ["--overwrite"])) == 0
    with open(os.path.join(out, "log.txt")) as f:
        assert "--overwrite: deleted the earlier run's checkpoints" in f.read()
    assert glob.glob(os.path.join(out, "metrics.json.2*"))  # the earlier metrics are kept aside
