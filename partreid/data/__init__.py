"""VI-ReID data: registered datasets and samplers, image transforms, and the loaders.

`datasets` and `samplers` are imported first: their implementations register themselves in
the registries that `build` owns (and `build` in turn needs `datasets.base`)."""
from . import datasets, samplers
from .build import (
    DATASET_REGISTRY,
    SAMPLER_REGISTRY,
    build_dataset,
    build_sampler,
    build_test_loader,
    build_train_loader,
    iters_per_epoch,
)
from .common import ReidImageDataset, SampleKey, collate_batch
from .datasets.base import INFRARED, VISIBLE, ReidDataset, ReidItem

__all__ = [
    "DATASET_REGISTRY",
    "SAMPLER_REGISTRY",
    "INFRARED",
    "VISIBLE",
    "ReidDataset",
    "ReidImageDataset",
    "ReidItem",
    "SampleKey",
    "build_dataset",
    "build_sampler",
    "build_test_loader",
    "build_train_loader",
    "collate_batch",
    "datasets",
    "iters_per_epoch",
    "samplers",
]
