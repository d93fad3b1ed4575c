"""The training images decoded and resized once, in parallel, and kept for the dataset's lifetime.

`INPUT.CACHE_IMAGES` keeps them in host memory (one uint8 array that forked loader workers share),
`DATALOADER.DEVICE_CACHE` on the training device (partreid.data.device_cache). Either is read once
per dataset object and image size: the trainer's loader and PreciseBN's, built at every
evaluation, share it instead of decoding the training set again.
"""
import logging
import time
import weakref
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Hashable, Sequence

import numpy as np

from .datasets.base import ReidItem
from .transforms import read_image, resize

logger = logging.getLogger(__name__)

_KEPT = weakref.WeakKeyDictionary()  # dataset -> {key: cached images}


def read_resized_images(items: Sequence[ReidItem], size_hw: Sequence[int], decoder: str = "opencv",
                        resize_backend: str = "opencv", num_threads: int = 1) -> np.ndarray:
    """Decode and resize every item's image into one (N, H, W, 3) uint8 array, `num_threads` at a
    time (OpenCV and PIL release the GIL while they decode and resize). Each image goes to its
    own row, so the array does not depend on the number of threads."""
    height, width = int(size_hw[0]), int(size_hw[1])
    images = np.empty((len(items), height, width, 3), dtype=np.uint8)

    def load(index: int) -> None:
        images[index] = resize(read_image(items[index].path, decoder), (height, width), resize_backend)

    start = time.perf_counter()
    num_threads = max(1, int(num_threads))
    if num_threads == 1:
        for index in range(len(items)):
            load(index)
    else:
        with ThreadPoolExecutor(num_threads, thread_name_prefix="image-cache") as pool:
            list(pool.map(load, range(len(items))))  # list() re-raises the first ImageReadError
    logger.info(f"Decoded and resized {len(items)} images to {height}x{width} in "
                f"{time.perf_counter() - start:.1f}s ({num_threads} threads, {images.nbytes / 2**30:.2f} GiB)")
    return images


def kept_with(dataset, key: Hashable, build: Callable[[], object]):
    """`build()`'s result, built once per (dataset object, key) and kept as long as the dataset
    lives."""
    kept = _KEPT.setdefault(dataset, {})
    if key not in kept:
        kept[key] = build()
    return kept[key]
