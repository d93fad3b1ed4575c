"""Owns the DATASET and SAMPLER registries and builds the train / test data loaders."""
from fvcore.common.registry import Registry

from ..utils.registry import get_registered

DATASET_REGISTRY = Registry("DATASET")
DATASET_REGISTRY.__doc__ = """
Datasets: classes built as `cls(cfg)` (or `cls(root=..., ...)`) exposing `train`, `test`,
`num_train_pids` and `default_evaluator` (see partreid/data/datasets/base.py).
"""

SAMPLER_REGISTRY = Registry("SAMPLER")
SAMPLER_REGISTRY.__doc__ = """
Training samplers: infinite index streams (identity batches) built from the training items.
"""


def build_dataset(cfg, name: str):
    return get_registered(DATASET_REGISTRY, name, "DATASETS.TRAIN/TEST")(cfg)
