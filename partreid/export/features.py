"""Batch feature extraction over a folder or a list of images, resumable after a crash.

Features are computed chunk by chunk (`chunk_size` images each); every finished chunk is
written atomically to `<output>.chunks/`, so a rerun with the same inputs skips the chunks
already there. When all chunks exist they are concatenated into `output` (.npy: a float32
array; .pt: {"features": tensor, "paths": list}), written atomically, next to
`<output stem>_paths.txt` (one image path per line, in row order), and the chunks are removed.
"""
import datetime
import hashlib
import json
import logging
import os
import shutil
import time
from typing import List, Sequence, Tuple

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..checkpoint import atomic_write_bytes, load_checkpoint_file
from ..data.transforms import read_image, resize, to_chw_tensor
from ..evaluation.evaluator import fuse_flipped

logger = logging.getLogger(__name__)

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
OUTPUT_FORMATS = (".npy", ".pt")
# Seconds between two progress lines.
_LOG_EVERY_SECONDS = 5.0


def list_images(source: str) -> List[str]:
    """The images to extract, in a fixed order: every image file under a folder (recursively,
    sorted), or the lines of a .txt list (relative paths are taken from the list's folder)."""
    if os.path.isdir(source):
        paths = sorted(
            os.path.join(folder, name)
            for folder, _, names in os.walk(source)
            for name in names
            if name.lower().endswith(IMAGE_EXTENSIONS)
        )
        if not paths:
            raise ValueError(f"--input {source}: the folder holds no image ({', '.join(IMAGE_EXTENSIONS)})")
        return paths
    if source.endswith(".txt") and os.path.isfile(source):
        base = os.path.dirname(os.path.abspath(source))
        with open(source) as f:
            lines = [line.strip() for line in f if line.strip()]
        paths = [line if os.path.isabs(line) else os.path.join(base, line) for line in lines]
        missing = [p for p in paths if not os.path.isfile(p)]
        if missing:
            raise FileNotFoundError(f"--input {source}: {len(missing)} listed images do not exist, e.g. {missing[0]}")
        if not paths:
            raise ValueError(f"--input {source}: the list is empty")
        return paths
    raise ValueError(f"--input {source!r}: expected an existing folder of images or a .txt list of image paths")


class _ImageFiles(Dataset):
    """uint8 (3,H,W) tensors of image files, decoded and resized as the test loader does."""

    def __init__(self, paths: Sequence[str], size_hw: Sequence[int], decoder: str, resize_backend: str = "opencv"):
        self.paths, self.size_hw, self.decoder = list(paths), tuple(size_hw), decoder
        self.resize_backend = resize_backend

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> torch.Tensor:
        return to_chw_tensor(resize(read_image(self.paths[index], self.decoder), self.size_hw, self.resize_backend))


def _chunk_dir(output: str) -> str:
    return output + ".chunks"


def paths_file(output: str) -> str:
    """Where the ordered image list of `output` is saved."""
    return os.path.splitext(output)[0] + "_paths.txt"


def _check_or_write_manifest(chunk_dir: str, paths: Sequence[str], chunk_size: int) -> None:
    """Chunks from an earlier run are only reused for the same image list and chunking."""
    manifest = {
        "num_images": len(paths),
        "chunk_size": int(chunk_size),
        "paths_sha1": hashlib.sha1("\n".join(paths).encode()).hexdigest(),
    }
    path = os.path.join(chunk_dir, "manifest.json")
    if os.path.exists(path):
        with open(path) as f:
            previous = json.load(f)
        if previous != manifest:
            raise ValueError(
                f"{chunk_dir} holds chunks of another extraction ({previous['num_images']} images, chunk size "
                f"{previous['chunk_size']}; now {len(paths)} and {chunk_size}); delete it or choose another --output"
            )
        return
    os.makedirs(chunk_dir, exist_ok=True)
    atomic_write_bytes(path, lambda f: f.write(json.dumps(manifest).encode()))


def _write_chunk(path: str, features: np.ndarray) -> None:
    atomic_write_bytes(path, lambda f: np.save(f, features))


@torch.no_grad()
def _features_of(model, images: torch.Tensor, flip: bool, flip_fusion: str) -> torch.Tensor:
    features = model({"images": images})
    if flip:
        features = fuse_flipped(features, model({"images": images.flip(-1)}), flip_fusion)
    return features.float().cpu()


def extract_features(
    model,
    paths: Sequence[str],
    output: str,
    *,
    size_hw: Sequence[int],
    batch_size: int = 128,
    chunk_size: int = 4096,
    decoder: str = "opencv",
    resize_backend: str = "opencv",
    num_workers: int = 0,
    flip: bool = False,
    flip_fusion: str = "mean",
) -> np.ndarray:
    """Features (N, D) of `paths` (in order) by `model` in eval mode, saved to `output`
    (.npy or .pt) with the path list; resumes from the chunks of an interrupted run."""
    if not output.endswith(OUTPUT_FORMATS):
        raise ValueError(f"--output {output!r}: expected a file name ending in {' or '.join(OUTPUT_FORMATS)}")
    if batch_size < 1 or chunk_size < 1:
        raise ValueError(f"batch_size and chunk_size must be >= 1, got {batch_size} and {chunk_size}")
    paths = [str(p) for p in paths]
    if not paths:
        raise ValueError("No images to extract")
    chunk_dir = _chunk_dir(output)
    _check_or_write_manifest(chunk_dir, paths, chunk_size)
    num_chunks = (len(paths) + chunk_size - 1) // chunk_size
    chunk_files = [os.path.join(chunk_dir, f"chunk_{i:05d}.npy") for i in range(num_chunks)]
    todo = [i for i in range(num_chunks) if not os.path.exists(chunk_files[i])]
    if len(todo) < num_chunks:
        logger.info("Resuming: %d of %d chunks already in %s", num_chunks - len(todo), num_chunks, chunk_dir)

    was_training = model.training
    model.eval()
    start = last_log = time.perf_counter()
    done_images, todo_images = 0, sum(len(paths[i * chunk_size:(i + 1) * chunk_size]) for i in todo)
    try:
        for i in todo:
            chunk_paths = paths[i * chunk_size:(i + 1) * chunk_size]
            loader = DataLoader(_ImageFiles(chunk_paths, size_hw, decoder, resize_backend), batch_size=batch_size,
                                num_workers=num_workers, pin_memory=torch.cuda.is_available())
            parts = []
            for images in loader:
                parts.append(_features_of(model, images, flip, flip_fusion))
                done_images += images.shape[0]
                now = time.perf_counter()
                if now - last_log >= _LOG_EVERY_SECONDS or done_images == todo_images:
                    last_log = now
                    eta = (now - start) / done_images * (todo_images - done_images)
                    logger.info("Extracted %d/%d images (chunk %d/%d), %.1f images/s, ETA %s", done_images,
                                todo_images, i + 1, num_chunks, done_images / (now - start),
                                datetime.timedelta(seconds=int(eta)))
            _write_chunk(chunk_files[i], torch.cat(parts).numpy())
    finally:
        model.train(was_training)

    features = np.concatenate([np.load(f) for f in chunk_files])
    atomic_write_bytes(paths_file(output), lambda f: f.write(("\n".join(paths) + "\n").encode()))
    if output.endswith(".npy"):
        atomic_write_bytes(output, lambda f: np.save(f, features))
    else:
        atomic_write_bytes(output, lambda f: torch.save({"features": torch.from_numpy(features), "paths": paths}, f))
    shutil.rmtree(chunk_dir)
    logger.info("Wrote %s features of dimension %d to %s (paths in %s)", len(paths), features.shape[1], output,
                paths_file(output))
    return features


def load_features(output: str) -> Tuple[np.ndarray, List[str]]:
    """(features (N, D), image paths) of a finished extraction."""
    if output.endswith(".pt"):
        data = load_checkpoint_file(output)
        return data["features"].numpy(), list(data["paths"])
    with open(paths_file(output)) as f:
        return np.load(output), f.read().splitlines()
