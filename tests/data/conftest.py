"""Tiny on-disk trees in the real SYSU-MM01 / RegDB / LLCM layouts, written per test."""
import os

import pytest
from vi_reid_trees import write_ids, write_image

from partreid.config import get_cfg


@pytest.fixture
def make_sysu(tmp_path):
    """SYSU-MM01 tree: every id in every camera (IR cams hold grayscale JPEGs) unless `missing`
    lists (pid, cam) pairs to leave out."""

    def make(train=(1, 2, 3), val=(4,), test=(5, 6), images=2, missing=(), folder="SYSU-MM01"):
        root = str(tmp_path / folder)
        seed = 0
        for pid in (*train, *val, *test):
            for cam in range(1, 7):
                os.makedirs(os.path.join(root, f"cam{cam}"), exist_ok=True)
                if (pid, cam) in missing:
                    continue
                for n in range(1, images + 1):
                    seed += 1
                    write_image(os.path.join(root, f"cam{cam}", f"{pid:04d}", f"{n:04d}.jpg"), seed, gray=cam in (3, 6))
        write_ids(os.path.join(root, "exp", "train_id.txt"), train)
        write_ids(os.path.join(root, "exp", "val_id.txt"), val)
        write_ids(os.path.join(root, "exp", "test_id.txt"), test)
        return root

    return make


@pytest.fixture
def make_regdb(tmp_path):
    def make(trial=1, train=(10, 11, 12), test=(20, 21), images=2):
        root = str(tmp_path / "RegDB")
        for split, pids in (("train", train), ("test", test)):
            for name, folder in (("visible", "Visible"), ("thermal", "Thermal")):
                lines = []
                for pid in pids:
                    for n in range(images):
                        rel = f"{folder}/male/{pid}/{folder[0]}_{pid}_{n}.bmp"
                        write_image(os.path.join(root, rel), pid * 100 + n)
                        lines.append(f"{rel} {pid}")
                idx = os.path.join(root, "idx", f"{split}_{name}_{trial}.txt")
                os.makedirs(os.path.dirname(idx), exist_ok=True)
                with open(idx, "w") as f:
                    f.write("\n".join(lines) + "\n")
        return root

    return make


@pytest.fixture
def make_llcm(tmp_path):
    def make(train=(3, 7), test=(8, 9), images=2, vis_cams=(1, 2), nir_cams=(1, 4)):
        root = str(tmp_path / "LLCM")
        for folder, list_name in (("train_vis", "train_vis.txt"), ("train_nir", "train_nir.txt")):
            lines = []
            cams = vis_cams if folder == "train_vis" else nir_cams
            for pid in train:
                for cam in cams:
                    for n in range(images):
                        rel = f"{folder}/cam{cam}/{pid:04d}/{pid:04d}_c{cam:02d}_{n}.jpg"
                        write_image(os.path.join(root, rel), pid * 1000 + cam * 10 + n)
                        lines.append(f"{rel} {pid}")
            os.makedirs(os.path.join(root, "idx"), exist_ok=True)
            with open(os.path.join(root, "idx", list_name), "w") as f:
                f.write("\n".join(lines) + "\n")
        for folder, cams in (("test_vis", vis_cams), ("test_nir", nir_cams)):
            for pid in test:
                for cam in cams:
                    for n in range(images):
                        write_image(os.path.join(root, folder, f"cam{cam}", f"{pid:04d}", f"{n}.jpg"), pid + cam + n)
        write_ids(os.path.join(root, "idx", "test_id.txt"), test)
        return root

    return make


@pytest.fixture
def cfg(tmp_path):
    """A config for tiny, fast loaders over DATASETS.ROOT = tmp_path."""
    c = get_cfg()
    c.DATASETS.ROOT = str(tmp_path)
    c.INPUT.SIZE_TRAIN = [16, 8]
    c.INPUT.SIZE_TEST = [16, 8]
    c.INPUT.PADDING = 2
    c.DATALOADER.NUM_IDENTITIES = 2
    c.DATALOADER.NUM_INSTANCES = 4
    c.DATALOADER.NUM_WORKERS = 0
    c.DATALOADER.PIN_MEMORY = False
    c.TEST.IMS_PER_BATCH = 5
    return c
