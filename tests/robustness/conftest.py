"""Tiny tools/train_net.py runs on a generated SynthVI (64x32 images, ResNet-18, 2 parts)."""
import os

# One thread per run: the runs stay fast and identical on a shared 2-core machine.
SUBPROCESS_ENV = dict(os.environ, OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TRAIN_NET = os.path.join(REPO, "tools", "train_net.py")
BASELINE_CONFIG = os.path.join(REPO, "configs", "synthvi_baseline.yaml")


def tiny_train_opts(data_root, out_dir, **extra):
    """KEY VALUE overrides for a run of 3 epochs x 2 iterations, a checkpoint every epoch and
    one evaluation at the end."""
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
        "SOLVER.MAX_EPOCHS": 3,
        "SOLVER.STEPS": "[2]",
        "SOLVER.CHECKPOINT_PERIOD": 1,
        "SOLVER.MAX_TO_KEEP": 10,
        "SOLVER.LOG_PERIOD": 1,
        "TEST.EVAL_PERIOD": 0,
        "TEST.NUM_TRIALS": 1,
        "TEST.IMS_PER_BATCH": 32,
        "OUTPUT_DIR": out_dir,
    }
    opts.update(extra)
    return [str(x) for kv in opts.items() for x in kv]
