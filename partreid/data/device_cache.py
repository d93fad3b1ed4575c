"""The training data path on the device (`DATALOADER.DEVICE_CACHE`).

The training images are decoded and resized once (partreid.data.image_cache) into one uint8
(N, H, W, 3) tensor on the training device. Each batch then costs the host only the random draws:
a background thread draws every sample's crop offset, flip, erased box and erasing noise with
`TrainAugmentation.draw`, from the sample's seed, exactly as the CPU loader's workers do, and the
device gathers, crops, flips and erases the whole batch at once. Both paths therefore give the same
uint8 batch for the same iteration, bit for bit, and a resumed run continues the same stream.

Memory: N x H x W x 3 bytes on the device, e.g. SYSU-MM01's 34,167 training images (22,258
visible, 11,909 infrared) at 384x128 take 5.04 GB (4.69 GiB); the CPU loader stays the reference
path and the default.
"""
from concurrent.futures import ThreadPoolExecutor
from typing import Dict, Optional, Sequence

import numpy as np
import torch

from .datasets.base import ReidItem
from .transforms import TrainAugmentation

# Columns of the per-batch parameter table drawn on the host (one row per sample).
_INDEX, _TOP, _LEFT, _FLIP, _BOX_TOP, _BOX_LEFT, _BOX_H, _BOX_W = range(8)


def draw_batch(augmentation: TrainAugmentation, keys: Sequence, height: int, width: int):
    """Every random choice of a batch of SampleKeys: an int64 table (B, 8) of index, crop
    offset, flip and erased box (0 x 0 when none), and the erasing noise of all samples
    concatenated in batch order, each flattened as (3, h, w)."""
    table = np.zeros((len(keys), 8), dtype=np.int64)
    noise = []
    for row, (index, seed) in enumerate(keys):
        draw = augmentation.draw(np.random.default_rng(seed), height, width)
        table[row, _INDEX], table[row, _TOP], table[row, _LEFT], table[row, _FLIP] = index, draw.top, draw.left, draw.flip
        if draw.erase_box is not None:
            table[row, _BOX_TOP:] = draw.erase_box
        if draw.erase_noise is not None:
            noise.append(draw.erase_noise.reshape(-1))
    return table, (np.concatenate(noise) if noise else np.zeros(0, dtype=np.uint8))


def erasing_fill_on(augmentation: TrainAugmentation, device) -> Optional[torch.Tensor]:
    """The augmentation's constant erasing fill as a (3,) uint8 tensor on `device` (None for noise),
    made once: building it from Python values at every batch would wait for the device."""
    if augmentation.erasing_fill is None:
        return None
    return torch.tensor(augmentation.erasing_fill, dtype=torch.uint8).to(device)


def augment_batch(images: torch.Tensor, table: torch.Tensor, noise: torch.Tensor, padding: int,
                  padding_fill: int, erasing_fill: Optional[torch.Tensor]) -> torch.Tensor:
    """Apply `draw_batch`'s draws to the cached (N, H, W, 3) uint8 `images`: the (B, 3, H, W)
    uint8 batch that `TrainAugmentation.apply` gives sample by sample. Runs on the device of
    `images` with no host synchronisation; `table`, `noise` and `erasing_fill` (see
    `erasing_fill_on`) must be on that device.

    Pad and crop are one gather: output pixel (y, x) reads source (y + top - padding,
    x + left - padding), or `padding_fill` where that falls outside the image; flipping after the
    crop reverses the source columns. The erased box is a mask, filled with `erasing_fill` or
    scattered with the noise, whose (sample, channel, row, column) order is the mask's own
    row-major order."""
    _, height, width, _ = images.shape
    device = images.device
    rows = torch.arange(height, device=device)
    cols = torch.arange(width, device=device)
    src_rows = rows[None, :] + (table[:, _TOP] - padding)[:, None]  # (B, H)
    src_cols = cols[None, :] + (table[:, _LEFT] - padding)[:, None]  # (B, W)
    src_cols = torch.where(table[:, _FLIP, None].bool(), src_cols.flip(1), src_cols)
    inside = (((src_rows >= 0) & (src_rows < height))[:, :, None]
              & ((src_cols >= 0) & (src_cols < width))[:, None, :])  # (B, H, W)
    gathered = images[table[:, _INDEX, None, None], src_rows.clamp(0, height - 1)[:, :, None],
                      src_cols.clamp(0, width - 1)[:, None, :]]  # (B, H, W, 3)
    if padding:
        gathered = torch.where(inside[..., None], gathered, padding_fill)
    batch = gathered.permute(0, 3, 1, 2).contiguous()

    box_top, box_left = table[:, _BOX_TOP, None], table[:, _BOX_LEFT, None]
    in_rows = (rows[None, :] >= box_top) & (rows[None, :] < box_top + table[:, _BOX_H, None])  # (B, H)
    in_cols = (cols[None, :] >= box_left) & (cols[None, :] < box_left + table[:, _BOX_W, None])  # (B, W)
    erased = (in_rows[:, :, None] & in_cols[:, None, :])[:, None].expand_as(batch)
    if erasing_fill is None:
        return batch.masked_scatter_(erased, noise)
    return torch.where(erased, erasing_fill.view(1, 3, 1, 1), batch)


class DeviceTrainLoader:
    """The training loader of `DATALOADER.DEVICE_CACHE`: iterating it yields the batches of
    `batch_sampler` (the same dicts as `collate_batch`, every tensor on the images' device).
    The host draws batch i + 1 in a background thread while the device works on batch i."""

    def __init__(self, images: torch.Tensor, items: Sequence[ReidItem], batch_sampler,
                 augmentation: TrainAugmentation):
        if images.dtype != torch.uint8 or images.dim() != 4 or images.shape[0] != len(items) or images.shape[3] != 3:
            raise ValueError(f"DeviceTrainLoader needs the (N, H, W, 3) uint8 images of its {len(items)} items, "
                             f"got {images.dtype} {tuple(images.shape)}")
        self.images = images
        self.batch_sampler = batch_sampler
        self.augmentation = augmentation
        device = images.device
        self.erasing_fill = erasing_fill_on(augmentation, device)
        self.labels = {
            name: torch.tensor([getattr(item, field) for item in items], dtype=torch.int64, device=device)
            for name, field in (("targets", "pid"), ("camids", "camid"), ("modalities", "modality"))
        }

    def __iter__(self) -> "DeviceBatchIterator":
        return DeviceBatchIterator(self)


class DeviceBatchIterator:
    """One pass over a DeviceTrainLoader's sampler, with its draws one batch ahead in a thread;
    `close()` stops the thread (partreid.data.shutdown calls it when training ends)."""

    def __init__(self, loader: DeviceTrainLoader):
        self._loader = loader
        self._keys = iter(loader.batch_sampler)
        self._pin = loader.images.device.type == "cuda"
        self._pool = ThreadPoolExecutor(1, thread_name_prefix="device-cache-draws")
        self._next = self._pool.submit(self._draw_next)

    def _draw_next(self):
        keys = next(self._keys, None)
        if keys is None:
            return None
        _, height, width, _ = self._loader.images.shape
        table, noise = draw_batch(self._loader.augmentation, keys, height, width)
        table, noise = torch.from_numpy(table), torch.from_numpy(noise)
        if self._pin:
            table, noise = table.pin_memory(), noise.pin_memory()
        return table, noise

    def __iter__(self):
        return self

    def __next__(self) -> Dict[str, torch.Tensor]:
        if self._next is None:
            raise StopIteration
        drawn = self._next.result()
        if drawn is None:
            self.close()
            raise StopIteration
        self._next = self._pool.submit(self._draw_next)
        loader = self._loader
        device = loader.images.device
        table, noise = (t.to(device, non_blocking=True) for t in drawn)
        augmentation = loader.augmentation
        images = augment_batch(loader.images, table, noise, augmentation.padding, augmentation.padding_fill,
                               loader.erasing_fill)
        indices = table[:, _INDEX]
        batch = {"images": images, **{name: values[indices] for name, values in loader.labels.items()}}
        batch["indices"] = indices
        return batch

    def close(self) -> None:
        self._next = None
        self._pool.shutdown(wait=True, cancel_futures=True)
