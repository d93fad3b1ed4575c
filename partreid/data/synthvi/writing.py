"""Writing SynthVI: the SYSU-MM01 tree on disk, its completion marker, and parallel writing.

Layout written under `root` (identical to SYSU-MM01, so the same reader serves both):
    cam{1..6}/{pid:04d}/{n:04d}.jpg   cams 1,2,4,5 visible RGB; cams 3,6 infrared (3 equal channels)
    exp/train_id.txt, exp/val_id.txt, exp/test_id.txt   one comma-separated line of 1-based ids
    part_masks/cam{c}/{pid:04d}.npz   ground-truth body-part masks of that folder's images (below)
    SYNTHVI_DONE.json                 generation parameters + counts, written last and atomically
`num_train_ids` counts train+val identities (SYSU trains on both); about one in ten of them is
listed in val_id.txt. Every identity keeps at least one visible camera among cams 1/2 (indoor
search) and at least one infrared camera. The part masks are stored per camera and identity as a
compressed uint8 array (about 0.3 KB per image); SYSU readers never look at part_masks/. The same
arguments give byte-identical files whatever `num_workers` is.
"""
import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

from .identities import Identity, sample_split_identities
from .rendering import CAMERAS, INFRARED_CAMERAS, PART_NAMES, render_image

logger = logging.getLogger(__name__)

MARKER_NAME = "SYNTHVI_DONE.json"
# Bump when the rendering changes: an existing tree with another version is regenerated.
# 2: ground-truth part masks under part_masks/ (images unchanged).
GENERATOR_VERSION = 2
_JPEG_QUALITY = 92
# Folder of the ground-truth part masks under the root (see part_mask_path).
PART_MASK_DIR = "part_masks"


def _cameras_of(identity: Identity) -> List[int]:
    return [cam for cam in sorted(CAMERAS) if cam != identity.missing_camera]


def part_mask_path(root: str, camera: int, pid: int) -> str:
    """The .npz that holds the part masks of `cam{camera}/{pid:04d}/*.jpg`: an array "masks" of
    shape (images, H, W), uint8 PART_NAMES indices, row n - 1 for image {n:04d}.jpg."""
    return os.path.join(root, PART_MASK_DIR, f"cam{camera}", f"{pid:04d}.npz")


def _write_identity(identity: Identity, root: str, images_per_camera: int, image_size, seed: int) -> int:
    written = 0
    for camera in _cameras_of(identity):
        folder = os.path.join(root, f"cam{camera}", f"{identity.pid:04d}")
        os.makedirs(folder, exist_ok=True)
        masks = []
        for index in range(1, images_per_camera + 1):
            image, parts = render_image(identity, camera, index, image_size, seed)
            path = os.path.join(folder, f"{index:04d}.jpg")
            if not cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]):
                raise OSError(f"SynthVI: could not write {path}")
            masks.append(parts)
            written += 1
        mask_path = part_mask_path(root, camera, identity.pid)
        os.makedirs(os.path.dirname(mask_path), exist_ok=True)
        np.savez_compressed(mask_path, masks=np.stack(masks))  # fixed zip timestamps: same bytes every run
    return written


def _write_identity_chunk(args) -> int:
    identities, root, images_per_camera, image_size, seed = args
    return sum(_write_identity(identity, root, images_per_camera, image_size, seed) for identity in identities)


# ----------------------------------------------------------------------------- the tree


def _validated_parameters(num_train_ids, num_test_ids, images_per_camera, image_size, seed, num_workers) -> Dict:
    def integer_at_least(name, value, minimum):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"generate_synthvi: {name}={value!r}, expected an integer >= {minimum}")
        return int(value)

    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise ValueError(f"generate_synthvi: image_size={image_size!r}, expected (height, width)")
    parameters = {
        "version": GENERATOR_VERSION,
        "num_train_ids": integer_at_least("num_train_ids", num_train_ids, 2),
        "num_test_ids": integer_at_least("num_test_ids", num_test_ids, 2),
        "images_per_camera": integer_at_least("images_per_camera", images_per_camera, 1),
        "image_size": [integer_at_least("image_size[0] (height)", image_size[0], 32),
                       integer_at_least("image_size[1] (width)", image_size[1], 16)],
        "seed": integer_at_least("seed", seed, 0),
    }
    integer_at_least("num_workers", num_workers, 0)
    return parameters


def _split_pids(parameters: Dict) -> Tuple[List[int], List[int], List[int]]:
    """Shuffled 1-based ids (as in SYSU, splits interleave); ~10% of training ids go to val."""
    num_train, num_test = parameters["num_train_ids"], parameters["num_test_ids"]
    pids = np.random.default_rng([parameters["seed"], 0]).permutation(num_train + num_test) + 1
    train_and_val, test = pids[:num_train], pids[num_train:]
    num_val = max(1, num_train // 10)
    return sorted(train_and_val[num_val:].tolist()), sorted(train_and_val[:num_val].tolist()), sorted(test.tolist())


def _read_marker(root: str) -> Optional[Dict]:
    try:
        with open(os.path.join(root, MARKER_NAME)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _clear_tree(root: str):
    """Remove what a previous (possibly interrupted) generation wrote, and nothing else."""
    marker = os.path.join(root, MARKER_NAME)
    if os.path.exists(marker):
        os.remove(marker)
    for name in [f"cam{cam}" for cam in CAMERAS] + ["exp", PART_MASK_DIR]:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            shutil.rmtree(path)


def generate_synthvi(
    root: str,
    num_train_ids: int = 64,
    num_test_ids: int = 32,
    images_per_camera: int = 4,
    image_size: Sequence[int] = (128, 64),
    seed: int = 0,
    num_workers: int = 0,
) -> Dict:
    """Render SynthVI under `root` in the SYSU-MM01 layout unless a complete tree with the same
    parameters is already there (its SYNTHVI_DONE.json marker matches); a tree without the marker
    or with other parameters is removed and regenerated.

    `num_train_ids` counts train+val identities, `image_size` is (height, width), and
    `num_workers` > 0 renders identities in that many processes (the files do not depend on it).
    Returns a summary: root, id and image counts, the parameters and whether it generated.
    """
    parameters = _validated_parameters(num_train_ids, num_test_ids, images_per_camera, image_size, seed,
                                       num_workers)
    root = os.path.abspath(os.path.expanduser(root))
    marker = _read_marker(root)
    if marker is not None and marker.get("parameters") == parameters:
        logger.info("SynthVI already complete at %s (seed %d); not regenerating.", root, parameters["seed"])
        return dict(marker["summary"], root=root, generated=False)
    if marker is not None:
        logger.info("SynthVI at %s was generated with %s; regenerating with %s.", root,
                    marker.get("parameters"), parameters)
    start = time.perf_counter()
    os.makedirs(root, exist_ok=True)
    _clear_tree(root)

    train_pids, val_pids, test_pids = _split_pids(parameters)
    seed = parameters["seed"]
    identities = (sample_split_identities(seed, sorted(train_pids + val_pids))
                  + sample_split_identities(seed, test_pids))
    size = tuple(parameters["image_size"])
    chunks = [(identities[i::max(1, num_workers)], root, images_per_camera, size, seed)
              for i in range(max(1, num_workers))]
    if num_workers > 0:
        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            num_images = sum(pool.map(_write_identity_chunk, chunks))
    else:
        num_images = _write_identity_chunk(chunks[0])

    os.makedirs(os.path.join(root, "exp"), exist_ok=True)
    for name, pids in (("train_id.txt", train_pids), ("val_id.txt", val_pids), ("test_id.txt", test_pids)):
        with open(os.path.join(root, "exp", name), "w") as f:
            f.write(",".join(str(pid) for pid in pids) + "\n")

    num_infrared = sum(
        images_per_camera for identity in identities for cam in _cameras_of(identity) if cam in INFRARED_CAMERAS
    )
    summary = {
        "num_train_ids": len(train_pids),
        "num_val_ids": len(val_pids),
        "num_test_ids": len(test_pids),
        "num_images": num_images,
        "num_visible_images": num_images - num_infrared,
        "num_infrared_images": num_infrared,
        "image_size": list(size),
        "images_per_camera": images_per_camera,
        "seed": seed,
        "part_names": list(PART_NAMES),
    }
    temporary = os.path.join(root, MARKER_NAME + ".tmp")
    with open(temporary, "w") as f:
        json.dump({"parameters": parameters, "summary": summary}, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, os.path.join(root, MARKER_NAME))
    logger.info("SynthVI: wrote %d images of %d identities to %s in %.1f s.", num_images, len(identities), root,
                time.perf_counter() - start)
    return dict(summary, root=root, generated=True)
