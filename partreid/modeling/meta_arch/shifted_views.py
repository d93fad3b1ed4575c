"""Horizontally shifted copies of training images, for a loss that asks the part maps to move with
the image content (PartEquivarianceLoss).

Why: a part head can learn a fixed map per part from the absolute position that zero padding
leaks into the features (BENCHMARKS.md, "The maps are fixed templates"). Such a map stays put when
the person moves; a map that follows the image content moves with it.
"""
from typing import NamedTuple

import torch


class ShiftedViews(NamedTuple):
    """E images described twice, as given and shifted sideways by a whole number of map cells."""

    reference: torch.Tensor  # (E, M, h, w) part maps of the images as given
    shifted: torch.Tensor  # (E, M, h, w) part maps of the shifted copies
    cells: torch.Tensor  # (E,) int64 signed shift in map cells (> 0: the content moved right)


def alternating_shifts(count: int, pixels: int) -> torch.Tensor:
    """(count,) signed pixel shifts +pixels, -pixels, +pixels, ...: both directions in every
    batch, with no random stream to keep in step."""
    signs = 1 - 2 * (torch.arange(count) % 2)
    return signs * pixels


def shift_images(images: torch.Tensor, shifts: torch.Tensor) -> torch.Tensor:
    """Move each image's columns by its signed shift (in pixels); the columns uncovered are
    filled with 0, the mean pixel of normalised images."""
    shifted = torch.zeros_like(images)
    width = images.shape[-1]
    for i, shift in enumerate(shifts.tolist()):
        if shift >= 0:
            shifted[i, ..., shift:] = images[i, ..., : width - shift]
        else:
            shifted[i, ..., : width + shift] = images[i, ..., -shift:]
    return shifted

