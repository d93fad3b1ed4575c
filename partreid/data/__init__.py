"""VI-ReID data: registered datasets and samplers, image transforms, and the loaders.

`datasets` and `samplers` are imported first: their implementations register themselves in
the registries that `build` owns (and `build` in turn needs `datasets.base`)."""
import cv2

# Parallelism comes from loader workers, not from OpenCV's own thread pool; a pool created in
# the parent (e.g. by generating SynthVI in-process) deadlocks forked workers that use OpenCV.
cv2.setNumThreads(0)

from . import datasets, samplers  # noqa: E402
from .build import (  # noqa: E402
    DATASET_REGISTRY,
    SAMPLER_REGISTRY,
    build_dataset,
    build_sampler,
    build_test_loader,
    build_train_loader,
    epoch_lengths,
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
    "epoch_lengths",
    "iters_per_epoch",
    "samplers",
]
