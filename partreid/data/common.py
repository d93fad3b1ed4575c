"""The torch Dataset that turns ReidItems into image tensors, and the batch collation."""
from typing import List, NamedTuple, Optional, Sequence, Union

import numpy as np
import torch
from torch.utils.data import Dataset

from .datasets.base import ReidItem
from .image_cache import read_resized_images
from .transforms import TrainAugmentation, read_image, resize, to_chw_tensor


class SampleKey(NamedTuple):
    """What a training sampler yields per sample: the item index and the seed of that
    sample's augmentation, derived from its position in the training stream."""

    index: int
    seed: int


class ReidImageDataset(Dataset):
    """Reads, resizes and (for training) augments the images of a list of ReidItems.

    Training datasets are indexed by SampleKey (the augmentation draws from
    `numpy.random.default_rng(key.seed)`); test datasets by a plain index. With `cache` the
    decoded, resized images are read once, up front, into one uint8 array, which forked
    loader workers share instead of each filling a copy of their own; `cached_images` hands in
    such an array read before (partreid.data.image_cache), one row per item."""

    def __init__(
        self,
        items: Sequence[ReidItem],
        size_hw: Sequence[int],
        decoder: str = "opencv",
        augmentation: Optional[TrainAugmentation] = None,
        cache: bool = False,
        resize_backend: str = "opencv",
        cached_images: Optional[np.ndarray] = None,
    ):
        if len(size_hw) != 2 or min(size_hw) <= 0:
            raise ValueError(f"INPUT.SIZE_TRAIN/SIZE_TEST must be [height, width] > 0, got {list(size_hw)}")
        self.items = list(items)
        self.size_hw = (int(size_hw[0]), int(size_hw[1]))
        self.decoder = decoder
        self.resize_backend = resize_backend
        self.augmentation = augmentation
        if cached_images is not None and cached_images.shape != (len(self.items), *self.size_hw, 3):
            raise ValueError(f"cached_images has shape {tuple(cached_images.shape)}; expected "
                             f"{(len(self.items), *self.size_hw, 3)} (one resized image per item)")
        if cached_images is None and cache:
            cached_images = read_resized_images(self.items, self.size_hw, decoder, resize_backend)
        self.cache = cached_images

    def _load(self, index: int) -> np.ndarray:
        return resize(read_image(self.items[index].path, self.decoder), self.size_hw, self.resize_backend)

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, key: Union[SampleKey, int]) -> dict:
        if self.augmentation is not None:
            if not isinstance(key, tuple):
                raise TypeError(f"A training ReidImageDataset is indexed by SampleKey(index, seed), got {key!r}")
            index, seed = key
        else:
            index = int(key)
        image = self.cache[index] if self.cache is not None else self._load(index)
        if self.augmentation is not None:
            tensor = self.augmentation(image, np.random.default_rng(seed))
        else:
            tensor = to_chw_tensor(image)
        item = self.items[index]
        return {"image": tensor, "target": item.pid, "camid": item.camid, "modality": item.modality, "index": index}


def collate_batch(samples: List[dict]) -> dict:
    """Stack samples into the batch dict every model and evaluator reads."""
    return {
        "images": torch.stack([s["image"] for s in samples]),
        "targets": torch.tensor([s["target"] for s in samples], dtype=torch.int64),
        "camids": torch.tensor([s["camid"] for s in samples], dtype=torch.int64),
        "modalities": torch.tensor([s["modality"] for s in samples], dtype=torch.int64),
        "indices": torch.tensor([s["index"] for s in samples], dtype=torch.int64),
    }
