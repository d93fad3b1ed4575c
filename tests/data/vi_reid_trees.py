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
