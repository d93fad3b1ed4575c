"""Image decoding and the ReID augmentations, all on uint8 data.

Images stay uint8 (HWC numpy while cropping, CHW tensor once erased) so host memory and
host->device copies stay small; the model normalises on its device. Every random choice
draws from a `numpy.random.Generator` handed in by the caller, which derives it from the
sample's position in the training stream: the augmentation of a sample therefore does not
depend on which worker runs it, nor on whether the run was resumed.
"""
import io
import math
from typing import NamedTuple, Optional, Sequence, Tuple

import cv2
import numpy as np
import torch
from iopath.common.file_io import g_pathmgr
from PIL import Image

DECODERS = ("opencv", "pil")
RESIZE_BACKENDS = ("opencv", "pil")
ERASING_FILLS = ("noise", "pixel_mean")


class ImageReadError(OSError):
    """An image file that cannot be read or decoded."""


def _jpeg_is_truncated(data: bytes) -> bool:
    """A baseline or progressive JPEG ends its last scan with the EOI marker (FFD9). Inside
    scan data 0xFF is always byte-stuffed, so FFD9 after the last SOS (FFDA) can only be the
    real end; OpenCV silently returns a partly grey image without it."""
    last_scan = data.rfind(b"\xff\xda")
    return last_scan < 0 or data.find(b"\xff\xd9", last_scan) < 0


def read_image(path: str, decoder: str = "opencv") -> np.ndarray:
    """Decode `path` into an RGB uint8 array (H, W, 3); single-channel (infrared) images are
    replicated to three channels. Raises ImageReadError naming the file when it cannot be
    opened or decoded."""
    if decoder not in DECODERS:
        raise ValueError(f"INPUT.DECODER must be one of {DECODERS}, got {decoder!r}")
    try:
        with g_pathmgr.open(path, "rb") as f:
            data = f.read()
    except OSError as e:
        raise ImageReadError(f"Cannot read image {path}: {e}") from e
    if not data:
        raise ImageReadError(f"Empty image file {path} (0 bytes)")
    if data[:2] == b"\xff\xd8" and _jpeg_is_truncated(data):
        raise ImageReadError(f"Corrupt image {path}: truncated JPEG (no end-of-image marker)")
    if decoder == "opencv":
        try:
            image = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        except cv2.error as e:
            raise ImageReadError(f"Corrupt image {path}: OpenCV cannot decode its {len(data)} bytes ({e})") from e
        if image is None:
            raise ImageReadError(f"Corrupt image {path}: OpenCV cannot decode its {len(data)} bytes")
        return cv2.cvtColor(image, cv2.COLOR_BGR2RGB)
    try:
        with Image.open(io.BytesIO(data)) as pil_image:
            return np.asarray(pil_image.convert("RGB"))
    except (OSError, SyntaxError, ValueError) as e:
        raise ImageReadError(f"Corrupt image {path}: PIL cannot decode it ({e})") from e


def resize(image: np.ndarray, size_hw: Sequence[int], backend: str = "opencv") -> np.ndarray:
    """Bilinear resize to (height, width) with OpenCV (INTER_LINEAR: two source pixels per
    output pixel and axis, whatever the scale) or PIL (BILINEAR, whose filter widens with the
    shrink factor, so a downscale averages every source pixel, as torchvision's Resize on PIL
    images does)."""
    if backend not in RESIZE_BACKENDS:
        raise ValueError(f"INPUT.RESIZE_BACKEND must be one of {RESIZE_BACKENDS}, got {backend!r}")
    height, width = int(size_hw[0]), int(size_hw[1])
    if image.shape[:2] == (height, width):
        return image
    if backend == "pil":
        return np.array(Image.fromarray(image).resize((width, height), Image.BILINEAR))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def to_chw_tensor(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))


def draw_erase_box(
    rng: np.random.Generator,
    height: int,
    width: int,
    area_range: Tuple[float, float],
    aspect_range: Tuple[float, float],
    attempts: int = 100,
) -> Optional[Tuple[int, int, int, int]]:
    """The rectangle (top, left, h, w) of random erasing (Zhong et al., AAAI 2020): an area of
    `area_range` of the image and an aspect ratio (height / width) log-uniform in
    `aspect_range`, drawn up to `attempts` times until it fits inside the image; None when no
    draw fits."""
    log_aspects = (math.log(aspect_range[0]), math.log(aspect_range[1]))
    for _ in range(attempts):
        area = rng.uniform(*area_range) * height * width
        aspect = math.exp(rng.uniform(*log_aspects))
        h = int(round(math.sqrt(area * aspect)))
        w = int(round(math.sqrt(area / aspect)))
        if 0 < h < height and 0 < w < width:
            top = int(rng.integers(0, height - h + 1))
            left = int(rng.integers(0, width - w + 1))
            return top, left, h, w
    return None


def draw_erase_noise(rng: np.random.Generator, box: Tuple[int, int, int, int], channels: int = 3) -> np.ndarray:
    """The uniform uint8 values (channels, h, w) that fill an erased `box`, drawn after it."""
    return rng.integers(0, 256, size=(channels, box[2], box[3]), dtype=np.uint8)


class AugmentationDraw(NamedTuple):
    """Every random choice of one sample's TrainAugmentation, in the order they are drawn: the
    crop's offset into the padded image (0..2*padding), the flip, the erased rectangle (top,
    left, h, w) or None, and its noise (3, h, w) when the fill is noise. The CPU path and the
    device path (partreid.data.device_cache) apply the same draws, so both give the same image."""

    top: int
    left: int
    flip: bool
    erase_box: Optional[Tuple[int, int, int, int]]
    erase_noise: Optional[np.ndarray]


class TrainAugmentation:
    """Pad (with `padding_fill`) + random crop back to the input size, horizontal flip, random
    erasing, on an image already resized to INPUT.SIZE_TRAIN; returns a uint8 (3, H, W) tensor.

    Flipping after the crop rather than before it (MPANet's order) draws the same distribution:
    the crop offset is uniform over a range symmetric under the flip."""

    def __init__(
        self,
        padding: int = 10,
        flip_prob: float = 0.5,
        erasing_prob: float = 0.5,
        erasing_area: Tuple[float, float] = (0.02, 0.4),
        erasing_min_aspect: float = 0.3,
        padding_fill: int = 0,
        erasing_max_aspect: float = 0.0,
        erasing_attempts: int = 100,
        erasing_fill: Optional[Sequence[int]] = None,
    ):
        """`erasing_max_aspect` 0 means 1 / `erasing_min_aspect`; `erasing_fill` None fills with
        noise, else with that per-channel value (0..255)."""
        if padding < 0:
            raise ValueError(f"INPUT.PADDING must be >= 0, got {padding}")
        if not 0 <= padding_fill <= 255:
            raise ValueError(f"INPUT.PADDING_FILL must be in 0..255, got {padding_fill}")
        if erasing_attempts < 1:
            raise ValueError(f"INPUT.RANDOM_ERASING.ATTEMPTS must be >= 1, got {erasing_attempts}")
        if erasing_fill is not None and (len(erasing_fill) != 3 or not all(0 <= v <= 255 for v in erasing_fill)):
            raise ValueError(f"The random-erasing fill must be 3 values in 0..255, got {list(erasing_fill)}")
        for key, p in (("INPUT.FLIP_PROB", flip_prob), ("INPUT.RANDOM_ERASING.PROB", erasing_prob)):
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"{key} must be a probability in [0, 1], got {p}")
        low, high = erasing_area
        if not 0.0 < low <= high < 1.0:
            raise ValueError(f"INPUT.RANDOM_ERASING.AREA_RANGE must satisfy 0 < low <= high < 1, got {erasing_area}")
        if not 0.0 < erasing_min_aspect <= 1.0:
            raise ValueError(f"INPUT.RANDOM_ERASING.MIN_ASPECT must be in (0, 1], got {erasing_min_aspect}")
        max_aspect = erasing_max_aspect or 1.0 / erasing_min_aspect
        if max_aspect < erasing_min_aspect:
            raise ValueError(f"INPUT.RANDOM_ERASING.MAX_ASPECT ({erasing_max_aspect}) must be >= MIN_ASPECT "
                             f"({erasing_min_aspect}), or 0 for 1 / MIN_ASPECT")
        self.padding = int(padding)
        self.padding_fill = int(padding_fill)
        self.erasing_aspect = (float(erasing_min_aspect), float(max_aspect))
        self.erasing_attempts = int(erasing_attempts)
        self.erasing_fill = None if erasing_fill is None else tuple(int(v) for v in erasing_fill)
        self.flip_prob = float(flip_prob)
        self.erasing_prob = float(erasing_prob)
        self.erasing_area = (float(low), float(high))

    @classmethod
    def from_config(cls, cfg) -> "TrainAugmentation":
        erasing = cfg.INPUT.RANDOM_ERASING
        if erasing.FILL not in ERASING_FILLS:
            raise ValueError(f"INPUT.RANDOM_ERASING.FILL must be one of {ERASING_FILLS}, got {erasing.FILL!r}")
        return cls(
            padding=cfg.INPUT.PADDING,
            flip_prob=cfg.INPUT.FLIP_PROB,
            erasing_prob=erasing.PROB if erasing.ENABLED else 0.0,
            erasing_area=tuple(erasing.AREA_RANGE),
            erasing_min_aspect=erasing.MIN_ASPECT,
            padding_fill=cfg.INPUT.PADDING_FILL,
            erasing_max_aspect=erasing.MAX_ASPECT,
            erasing_attempts=erasing.ATTEMPTS,
            erasing_fill=[int(round(v)) for v in cfg.MODEL.PIXEL_MEAN] if erasing.FILL == "pixel_mean" else None,
        )

    def draw(self, rng: np.random.Generator, height: int, width: int) -> AugmentationDraw:
        """The random choices for one (height, width) image, drawn from `rng` in a fixed order:
        crop offset (top, then left; only with padding), flip, erasing, the erased box, its noise."""
        top = left = self.padding
        if self.padding:
            top, left = (int(v) for v in rng.integers(0, 2 * self.padding + 1, size=2))
        flip = bool(rng.random() < self.flip_prob)
        box = noise = None
        if rng.random() < self.erasing_prob:
            box = draw_erase_box(rng, height, width, self.erasing_area, self.erasing_aspect, self.erasing_attempts)
            if box is not None and self.erasing_fill is None:
                noise = draw_erase_noise(rng, box)
        return AugmentationDraw(top, left, flip, box, noise)

    def apply(self, image: np.ndarray, draw: AugmentationDraw) -> torch.Tensor:
        """Pad, crop at `draw`'s offset, flip and erase an (H, W, 3) uint8 image."""
        height, width = image.shape[:2]
        if self.padding:
            pad = self.padding
            padded = np.pad(image, ((pad, pad), (pad, pad), (0, 0)), constant_values=self.padding_fill)
            image = padded[draw.top : draw.top + height, draw.left : draw.left + width]
        if draw.flip:
            image = image[:, ::-1]
        tensor = to_chw_tensor(image)
        if draw.erase_box is not None:
            top, left, h, w = draw.erase_box
            if draw.erase_noise is not None:
                values = torch.from_numpy(draw.erase_noise)
            else:
                values = torch.tensor(self.erasing_fill, dtype=torch.uint8).view(-1, 1, 1)
            tensor[:, top : top + h, left : left + w] = values
        return tensor

    def __call__(self, image: np.ndarray, rng: np.random.Generator) -> torch.Tensor:
        return self.apply(image, self.draw(rng, *image.shape[:2]))
