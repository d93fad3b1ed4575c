"""Writers of tiny images and id lists for the dataset-layout fixtures (see conftest.py)."""
import os

import cv2
import numpy as np


def write_image(path, seed, size_hw=(16, 8), gray=False):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    rng = np.random.default_rng(seed)
    shape = size_hw if gray else (*size_hw, 3)
    assert cv2.imwrite(path, rng.integers(0, 256, size=shape, dtype=np.uint8))
    return path


def write_ids(path, ids):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        f.write(",".join(str(i) for i in ids) + "\n")


def write_sysu_recipe_tree(base: str) -> str:
    """SYSU-MM01 under `base` sized so that MPANet's sampler is exactly predictable: 16 training
    identities (12 train + 4 val) with 4 images in each of the 6 cameras (8 infrared and 16
    visible each: 2 blocks of 4 + 4 per identity, every pass 2 batches of all 16 identities,
    whatever the seed) and 2 test identities. Returns `base` (the DATASETS.ROOT)."""
    root = os.path.join(base, "SYSU-MM01")
    seed = 0
    for pid in range(1, 19):
        for cam in range(1, 7):
            for n in range(1, (4 if pid <= 16 else 2) + 1):
                seed += 1
                write_image(os.path.join(root, f"cam{cam}", f"{pid:04d}", f"{n:04d}.jpg"), seed, gray=cam in (3, 6))
    write_ids(os.path.join(root, "exp", "train_id.txt"), range(1, 13))
    write_ids(os.path.join(root, "exp", "val_id.txt"), range(13, 17))
    write_ids(os.path.join(root, "exp", "test_id.txt"), (17, 18))
    return base

