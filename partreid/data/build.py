"""Owns the DATASET and SAMPLER registries and builds the train / test data loaders."""
import logging
import math
from collections import Counter
from typing import List, Sequence

import numpy as np
import torch
from fvcore.common.registry import Registry
from torch.utils.data import DataLoader

from ..utils import comm
from ..utils.env import resolve_device
from ..utils.registry import get_registered
from .common import ReidImageDataset, collate_batch
from .datasets.base import INFRARED, VISIBLE, ReidItem
from .device_cache import DeviceTrainLoader
from .image_cache import kept_with, read_resized_images
from .transforms import TrainAugmentation

logger = logging.getLogger(__name__)

DATASET_REGISTRY = Registry("DATASET")
DATASET_REGISTRY.__doc__ = """
Datasets: classes built as `cls(cfg)` (or `cls(root=..., ...)`) exposing `train`, `test`,
`num_train_pids` and `default_evaluator` (see partreid/data/datasets/base.py).
"""

SAMPLER_REGISTRY = Registry("SAMPLER")
SAMPLER_REGISTRY.__doc__ = """
Training batch samplers, built as `cls(cfg, items, iters_per_epoch, start_iter)`:
endless streams of per-rank batches of `SampleKey(index, seed)` whose global batch at every
iteration is a function of (SEED, epoch, iteration) only (see partreid/data/samplers/base.py).
"""


def build_dataset(cfg, name: str):
    return get_registered(DATASET_REGISTRY, name, "DATASETS.TRAIN/TEST")(cfg)


def build_sampler(cfg, items: Sequence[ReidItem], iters_per_epoch: int, start_iter: int = 0):
    """The DATALOADER.SAMPLER batch sampler over `items`, positioned at `start_iter`."""
    sampler_cls = get_registered(SAMPLER_REGISTRY, cfg.DATALOADER.SAMPLER, "DATALOADER.SAMPLER")
    return sampler_cls(cfg, items, iters_per_epoch, start_iter)


def _sampler_epoch_lengths(cfg, dataset):
    """The sampler's own epoch lengths (ceil(SOLVER.MAX_EPOCHS) of them), or None when it has none
    or DATALOADER.ITERS_PER_EPOCH pins the epoch."""
    if cfg.DATALOADER.ITERS_PER_EPOCH > 0:
        return None
    sampler_cls = get_registered(SAMPLER_REGISTRY, cfg.DATALOADER.SAMPLER, "DATALOADER.SAMPLER")
    own = getattr(sampler_cls, "epoch_lengths", None)
    return own(cfg, dataset.train, math.ceil(cfg.SOLVER.MAX_EPOCHS)) if own is not None else None


def iters_per_epoch(cfg, dataset) -> int:
    """Iterations in one training epoch: DATALOADER.ITERS_PER_EPOCH when > 0; else the sampler's
    own epoch length when it defines one (the mean, rounded, when its epochs differ: see
    `epoch_lengths`); else the number of batches that would show every image of the smaller
    modality once (P*K/2 of them per batch). A single-modality training set counts all its
    images against P*K instead. Schedules in epochs are converted with `epoch_lengths`."""
    if cfg.DATALOADER.ITERS_PER_EPOCH > 0:
        return int(cfg.DATALOADER.ITERS_PER_EPOCH)
    if not dataset.train:
        raise ValueError(f"{type(dataset).__name__} has no training images; cannot size an epoch")
    own = _sampler_epoch_lengths(cfg, dataset)
    if own:
        return max(1, int(round(sum(own) / len(own))))
    batch_size = cfg.DATALOADER.NUM_IDENTITIES * cfg.DATALOADER.NUM_INSTANCES
    counts = Counter(item.modality for item in dataset.train)
    if counts[VISIBLE] and counts[INFRARED]:
        return max(1, min(counts[VISIBLE], counts[INFRARED]) // max(1, batch_size // 2))
    return max(1, len(dataset.train) // batch_size)


def epoch_lengths(cfg, dataset) -> List[int]:
    """The length in iterations of each of the ceil(SOLVER.MAX_EPOCHS) training epochs: the
    sampler's own when its epoch is a pass over the data (each pass its own length), else
    `iters_per_epoch` for every epoch. This is the one place the epoch is sized; the trainer's
    EpochSchedule converts every epoch-valued key with it."""
    if not dataset.train:
        raise ValueError(f"{type(dataset).__name__} has no training images; cannot size an epoch")
    own = _sampler_epoch_lengths(cfg, dataset)
    return list(own) if own else [iters_per_epoch(cfg, dataset)] * math.ceil(cfg.SOLVER.MAX_EPOCHS)


def _loader_options(cfg) -> dict:
    num_workers = int(cfg.DATALOADER.NUM_WORKERS)
    if num_workers < 0:
        raise ValueError(f"DATALOADER.NUM_WORKERS must be >= 0, got {num_workers}")
    return {
        "num_workers": num_workers,
        "pin_memory": bool(cfg.DATALOADER.PIN_MEMORY) and torch.cuda.is_available(),
        "collate_fn": collate_batch,
    }


def build_train_loader(cfg, dataset=None, start_iter: int = 0):
    """An endless loader of training batches (see `collate_batch`), P*K/world_size images per
    rank, starting at iteration `start_iter`. Batch contents and augmentations are a function
    of (SEED, iteration) only, so a resumed run continues the uninterrupted stream exactly,
    whatever DATALOADER.NUM_WORKERS is. With DATALOADER.DEVICE_CACHE the images live on the
    model's device and are augmented there (partreid.data.device_cache), giving the same batches."""
    if dataset is None:
        dataset = build_dataset(cfg, cfg.DATASETS.TRAIN)
    sampler = build_sampler(cfg, dataset.train, iters_per_epoch(cfg, dataset), start_iter)
    augmentation = TrainAugmentation.from_config(cfg)
    if cfg.DATALOADER.DEVICE_CACHE:
        return DeviceTrainLoader(_device_images(cfg, dataset), dataset.train, sampler, augmentation)
    cached = _host_images(cfg, dataset) if cfg.INPUT.CACHE_IMAGES else None
    images = ReidImageDataset(
        dataset.train,
        cfg.INPUT.SIZE_TRAIN,
        decoder=cfg.INPUT.DECODER,
        augmentation=augmentation,
        resize_backend=cfg.INPUT.RESIZE_BACKEND,
        cached_images=cached,
    )
    # No persistent_workers: the sampler is endless, so the workers never see an epoch end; the
    # trainer shuts them down itself when training stops (partreid.data.shutdown).
    return DataLoader(images, batch_sampler=sampler, **_loader_options(cfg))


def _decode_key(cfg) -> tuple:
    return tuple(cfg.INPUT.SIZE_TRAIN), cfg.INPUT.DECODER, cfg.INPUT.RESIZE_BACKEND


def _host_images(cfg, dataset) -> np.ndarray:
    """INPUT.CACHE_IMAGES: the training images at SIZE_TRAIN in host memory, read once per dataset."""
    return kept_with(dataset, ("host", *_decode_key(cfg)), lambda: read_resized_images(
        dataset.train, cfg.INPUT.SIZE_TRAIN, cfg.INPUT.DECODER, cfg.INPUT.RESIZE_BACKEND,
        num_threads=max(1, cfg.DATALOADER.NUM_WORKERS)))


def _device_images(cfg, dataset) -> torch.Tensor:
    """DATALOADER.DEVICE_CACHE: the training images at SIZE_TRAIN as one (N, H, W, 3) uint8 tensor
    on the model's device, read once per dataset; the host copy is dropped once uploaded."""
    device = resolve_device(cfg)

    def upload() -> torch.Tensor:
        host = read_resized_images(dataset.train, cfg.INPUT.SIZE_TRAIN, cfg.INPUT.DECODER,
                                   cfg.INPUT.RESIZE_BACKEND, num_threads=max(1, cfg.DATALOADER.NUM_WORKERS))
        logger.info(f"DATALOADER.DEVICE_CACHE: {host.shape[0]} training images, {host.nbytes / 1e9:.2f} GB "
                    f"on {device}")
        return torch.from_numpy(host).to(device)

    return kept_with(dataset, ("device", str(device), *_decode_key(cfg)), upload)


def build_test_loader(cfg, dataset) -> DataLoader:
    """Batches of TEST.IMS_PER_BATCH over `dataset.test` in order; under DDP each rank reads a
    disjoint contiguous shard ("indices" stay global, and the evaluator gathers the ranks)."""
    count, rank, world = len(dataset.test), comm.get_rank(), comm.get_world_size()
    shard = range(count * rank // world, count * (rank + 1) // world)
    images = ReidImageDataset(dataset.test, cfg.INPUT.SIZE_TEST, decoder=cfg.INPUT.DECODER,
                              resize_backend=cfg.INPUT.RESIZE_BACKEND)
    return DataLoader(images, batch_size=int(cfg.TEST.IMS_PER_BATCH), sampler=shard, **_loader_options(cfg))
