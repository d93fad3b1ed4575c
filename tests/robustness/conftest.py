"""Tiny tools/train_net.py runs on a generated SynthVI (64x32 images, ResNet-18, 2 parts)."""
import os

from partreid.utils.testing import tiny_synthvi_opts

# One thread per run: the runs stay fast and identical on a shared 2-core machine.
SUBPROCESS_ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
BASELINE_CONFIG = os.path.join(REPO, "configs", "synthvi_baseline.yaml")


def tiny_train_opts(data_root, out_dir, **extra):
    """KEY VALUE overrides for a run of 3 epochs x 2 iterations, a checkpoint every epoch and
    one evaluation at the end."""
    opts = {"SOLVER.MAX_EPOCHS": 3, "SOLVER.STEPS": "[2]", "SOLVER.MAX_TO_KEEP": 10, "TEST.EVAL_PERIOD": 0,
            "TEST.NUM_TRIALS": 1, "TEST.IMS_PER_BATCH": 32}
    opts.update(extra)
    return tiny_synthvi_opts(data_root, out_dir, **opts)
