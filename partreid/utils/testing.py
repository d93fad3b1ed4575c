"""Helpers for tests (and users' own tests): tiny end-to-end runs of tools/train_net.py, the
graph breaks torch.compile would make in a training step, and bit-for-bit comparisons of two
components (built from a config and from keyword arguments)."""
import dataclasses
import os
import subprocess
import sys

import torch

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_NET = os.path.join(REPO_ROOT, "tools", "train_net.py")


def declare_project(site_dir, name: str, module: str = "") -> str:
    """Declare `module` (default: `name`) an installed partreid project called `name`, as pip
    would on install: a .dist-info folder in `site_dir` whose entry_points.txt names it in the
    "partreid.projects" group. With `site_dir` on sys.path (or PYTHONPATH), PROJECTS may list
    `name`. Returns the .dist-info folder."""
    dist_info = os.path.join(str(site_dir), f"partreid_test_project_{name}-0.0.dist-info")
    os.makedirs(dist_info, exist_ok=True)
    with open(os.path.join(dist_info, "METADATA"), "w") as f:
        f.write(f"Metadata-Version: 2.1\nName: partreid-test-project-{name}\nVersion: 0.0\n")
    with open(os.path.join(dist_info, "entry_points.txt"), "w") as f:
        f.write(f"[partreid.projects]\n{name} = {module or name}\n")
    return dist_info


def tiny_model_cfg():
    """A fresh config for the smallest model that exercises every path: ResNet-18 with 2 parts
    and 4 classes on the CPU (inputs of 64x32 keep it fast)."""
    from ..config import get_cfg

    cfg = get_cfg()
    cfg.MODEL.DEVICE = "cpu"
    cfg.MODEL.NUM_CLASSES = 4
    cfg.MODEL.BACKBONE.DEPTH = 18
    cfg.MODEL.PART_HEAD.NUM_PARTS = 2
    return cfg


def tiny_run_folder(folder, num_parts: int = 2, extra=None) -> str:
    """A run folder as training leaves it, for tools that load a checkpoint: model_final.pth of a
    tiny_model_cfg() model (random weights, `num_parts` parts, 64x32 test images; `extra` entries
    added to the checkpoint) and its config.yaml, with MODEL.NUM_CLASSES 0 as a config that takes
    it from the data. Returns the checkpoint's path."""
    import torch

    from ..modeling.meta_arch.build import build_model

    cfg = tiny_model_cfg()
    cfg.MODEL.PART_HEAD.NUM_PARTS = num_parts
    cfg.INPUT.SIZE_TEST = [64, 32]
    cfg.OUTPUT_DIR = str(folder)
    torch.manual_seed(0)
    model = build_model(cfg)
    os.makedirs(folder, exist_ok=True)
    weights = os.path.join(str(folder), "model_final.pth")
    torch.save({"model": model.state_dict(), **(extra or {})}, weights)
    cfg.MODEL.NUM_CLASSES = 0
    with open(os.path.join(str(folder), "config.yaml"), "w") as f:
        f.write(cfg.dump())
    return weights


def tiny_synthvi_opts(data_root, out_dir, **overrides):
    """KEY VALUE overrides for a run that takes seconds on a CPU: SynthVI with 6 train / 4 test
    ids at 64x32, ResNet-18 with 2 parts, 2 identities x 4 images per batch, 2 iterations per
    epoch for 2 epochs, a checkpoint and an evaluation (2 gallery trials) every epoch.
    `overrides` (dots written as in the config: {"SOLVER.MAX_EPOCHS": 3}) replace or extend them."""
    opts = {
        "DATASETS.ROOT": data_root,
        "DATASETS.SYNTHVI.NUM_TRAIN_IDS": 6,
        "DATASETS.SYNTHVI.NUM_TEST_IDS": 4,
        "DATASETS.SYNTHVI.IMAGES_PER_CAMERA": 2,
        "DATASETS.SYNTHVI.IMAGE_SIZE": "[64,32]",
        "INPUT.SIZE_TRAIN": "[64,32]",
        "INPUT.SIZE_TEST": "[64,32]",
        "MODEL.BACKBONE.DEPTH": 18,
        "MODEL.PART_HEAD.NUM_PARTS": 2,
        "DATALOADER.NUM_IDENTITIES": 2,
        "DATALOADER.NUM_INSTANCES": 4,
        "DATALOADER.ITERS_PER_EPOCH": 2,
        "DATALOADER.NUM_WORKERS": 0,
        "SOLVER.MAX_EPOCHS": 2,
        "SOLVER.STEPS": "[1]",
        "SOLVER.CHECKPOINT_PERIOD": 1,
        "SOLVER.LOG_PERIOD": 1,
        "TEST.EVAL_PERIOD": 1,
        "TEST.NUM_TRIALS": 2,
        "TEST.IMS_PER_BATCH": 16,
        "OUTPUT_DIR": out_dir,
    }
    opts.update(overrides)
    return [str(x) for kv in opts.items() for x in kv]


def train_net_env(threads=1, extra_env=None) -> dict:
    """The environment of a tools/train_net.py subprocess with `threads` torch threads (tests
    share a small CPU), or torch's default thread count when `threads` is None."""
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "MKL_NUM_THREADS")}
    if threads is not None:
        env.update(OMP_NUM_THREADS=str(threads), MKL_NUM_THREADS=str(threads))
    env.update(extra_env or {})
    return env


def run_train_net(args, timeout=600, threads=1, extra_env=None):
    """Run tools/train_net.py ARGS in a subprocess from the repository root (see train_net_env);
    returns the CompletedProcess (stdout, stderr captured)."""
    return subprocess.run([sys.executable, TRAIN_NET, *args], cwd=REPO_ROOT, env=train_net_env(threads, extra_env),
                          capture_output=True, text=True, timeout=timeout)


def toy_training_batch(epoch: int, iteration=None) -> dict:
    """A training batch of 2 identities x 4 images (2 visible + 2 infrared each) at 32x16, as
    the loader yields it; the pixels are seeded by `iteration` (0 without one), which is also
    put in the batch when given (the mixers reseed from it)."""
    import torch

    g = torch.Generator().manual_seed(iteration or 0)
    batch = {
        "images": torch.randint(0, 256, (8, 3, 32, 16), dtype=torch.uint8, generator=g),
        "targets": torch.tensor([0, 0, 0, 0, 1, 1, 1, 1]),
        "camids": torch.zeros(8, dtype=torch.long),
        "modalities": torch.tensor([0, 0, 1, 1] * 2),
        "indices": torch.arange(8),
        "epoch": epoch,
    }
    if iteration is not None:
        batch["iteration"] = iteration
    return batch


def fake_finished_comparison_run(run_dir, config, seed, opts, results):
    """A folder as partreid.lab.runs.ensure_run leaves a finished (arm, seed) run, without
    training it: its record (with a training-set accuracy), a config.yaml, metrics.json with one
    training row and the final evaluation `results` ({"group/metric": value}), and an empty
    model_final.pth. For tests of reports over many runs."""
    import json

    from ..lab.runs import RUN_RECORD, _config_id

    os.makedirs(run_dir)
    record = {"config": _config_id(config), "seed": seed, "opts": list(opts), "wall_s": 2.0,
              "train_set_acc": {"final": 99.0}}
    rows = [{"iteration": 9, "total_loss": 1.0}, {"iteration": 9, **{f"eval/{k}": v for k, v in results.items()}}]
    files = {RUN_RECORD: json.dumps(record), "config.yaml": "DATALOADER:\n  ITERS_PER_EPOCH: 0\n",
             "metrics.json": "".join(json.dumps(r) + "\n" for r in rows), "model_final.pth": ""}
    for name, text in files.items():
        with open(os.path.join(run_dir, name), "w") as f:
            f.write(text)


def training_step_graph_breaks(cfg) -> list:
    """The reasons (one line each) of the graph breaks torch._dynamo.explain finds in a training
    step of `cfg`'s model on 16 images of 64x32 (4 identities x 4, half visible, half infrared,
    every mixer active), summed to the total loss, with the trainer's storage active (the model
    records its training accuracy there). [] means torch.compile captures it in one graph."""
    from ..modeling import build_model
    from .events import EventStorage

    torch.manual_seed(0)
    model = build_model(cfg).train()
    g = torch.Generator().manual_seed(0)
    batch = {
        "images": torch.randint(0, 256, (16, 3, 64, 32), dtype=torch.uint8, generator=g),
        "targets": torch.arange(4).repeat_interleave(4),
        "camids": torch.tensor([1, 1, 3, 3] * 4),
        "modalities": torch.tensor([0, 0, 1, 1] * 4),
        "indices": torch.arange(16),
        "epoch": 100,  # every mixer active
        "iteration": 19,
    }

    def step(batch):
        return sum(model(batch).values())

    torch._dynamo.reset()
    with EventStorage(0):
        explained = torch._dynamo.explain(step)(batch)
    return [" ".join(reason.reason.split()) for reason in explained.break_reasons]


# The one graph break a training step of the built-in meta-architecture makes on purpose: the
# training accuracy goes into the trainer's storage (Python state) eagerly, last in the forward.
RECORDING_BREAK = "_record_training_accuracy"


def compiled_training_graphs(cfg, iterations: int = 6) -> tuple:
    """(graphs torch.compile made, train/id_acc values the storage received) over `iterations`
    training steps of `cfg`'s model compiled with the eager backend (no code generation), on
    batches like `training_step_graph_breaks`'s with the iteration and the epoch (every two
    steps) moving as in training."""
    from torch._dynamo.utils import counters

    from ..modeling import build_model
    from .events import EventStorage

    torch.manual_seed(0)
    model = build_model(cfg).train()
    compiled = torch.compile(model, backend="eager")
    g = torch.Generator().manual_seed(0)
    torch._dynamo.reset()
    counters.clear()
    accuracies = []
    with EventStorage(0) as storage:
        for iteration in range(iterations):
            storage.iter = iteration
            batch = {"images": torch.randint(0, 256, (16, 3, 64, 32), dtype=torch.uint8, generator=g),
                     "targets": torch.arange(4).repeat_interleave(4), "camids": torch.tensor([1, 1, 3, 3] * 4),
                     "modalities": torch.tensor([0, 0, 1, 1] * 4), "indices": torch.arange(16),
                     "epoch": iteration // 2, "iteration": iteration}
            sum(compiled(batch).values()).backward()
            if storage.has("train/id_acc"):
                accuracies.append(storage.latest()["train/id_acc"])
    return counters["stats"]["unique_graphs"], accuracies


def assert_configs_start_as_shipped(config_dir) -> None:
    """Every config of `config_dir` but its Base-*.yaml: one on a real dataset names torchvision's
    ImageNet ResNet-50 and refuses random init; one on SynthVI trains from scratch on purpose."""
    from ..config import setup_cfg

    names = sorted(n for n in os.listdir(config_dir) if n.endswith(".yaml") and not n.startswith("Base-"))
    assert names, f"no config in {config_dir}"
    for name in names:
        cfg = setup_cfg(os.path.join(config_dir, name), freeze=False)
        expected = ("", True) if cfg.DATASETS.TRAIN == "SynthVI" else ("torchvision://resnet50", False)
        assert (cfg.MODEL.BACKBONE.PRETRAIN_PATH, cfg.MODEL.BACKBONE.ALLOW_RANDOM_INIT) == expected, name


def assert_same(a, b, where="value"):
    """Equal tensors (bit for bit), numbers, strings, containers and dataclasses; other objects
    (modules, generators) of the same type, compared elsewhere."""
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if isinstance(a, torch.Tensor):
        assert torch.equal(a.detach(), b.detach()), where
    elif isinstance(a, dict):
        assert list(a) == list(b), f"{where}: keys {list(a)} != {list(b)}"
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif dataclasses.is_dataclass(a):
        assert_same(vars(a), vars(b), where)
    elif a is None or isinstance(a, (bool, int, float, str)):
        assert a == b, f"{where}: {a!r} != {b!r}"


def assert_same_attributes(a, b):
    """The same public attributes (assert_same on each)."""
    assert_same({k: v for k, v in vars(a).items() if not k.startswith("_")},
                {k: v for k, v in vars(b).items() if not k.startswith("_")}, type(a).__name__)


def assert_same_module(a, b):
    """Same parameters and buffers, bit for bit, and the same plain attributes."""
    sa, sb = a.state_dict(), b.state_dict()
    assert [(k, v.shape) for k, v in sa.items()] == [(k, v.shape) for k, v in sb.items()]
    assert_same(sa, sb, f"{type(a).__name__}.state_dict()")
    assert_same_attributes(a, b)


def assert_loss_built_both_ways_alike(cls, cfg, kwargs: dict, outputs: dict, batch: dict) -> None:
    """A registered loss built from `cfg` and from `kwargs` has the same attributes and gives the
    same, non-empty terms on one training step's `outputs` and `batch`."""
    from_cfg, from_arguments = cls(cfg), cls(**kwargs)
    assert_same_attributes(from_cfg, from_arguments)
    terms = from_cfg(outputs, batch)
    assert terms, f"{cls.__name__} returned no term on a training step"
    assert_same(terms, from_arguments(outputs, batch), f"{cls.__name__} terms")


def seeded(build):
    """build() right after torch.manual_seed(0): two builds draw the same initial weights."""
    torch.manual_seed(0)
    return build()
