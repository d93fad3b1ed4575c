"""A registered dataset read from one CSV list: path,pid,camid,modality,split."""
import csv
import os

import cv2
import numpy as np

from partreid.config import configurable, get_cfg
from partreid.data import ReidDataset, ReidItem, build_dataset, build_test_loader
from partreid.data.build import DATASET_REGISTRY


@DATASET_REGISTRY.register()
class CsvListDataset(ReidDataset):
    """<root>/list.csv, one image per line (paths relative to root; from a config, root is
    DATASETS.ROOT/CsvList).
    Training pids are relabelled 0..N-1 in sorted order; test pids stay raw (the contract).
    Layout problems fail at construction with the file and line, not later in a loader."""

    default_evaluator = "SYSUEvaluator"

    @configurable
    def __init__(self, root: str):
        listing = os.path.join(root, "list.csv")
        if not os.path.isfile(listing):
            raise FileNotFoundError(f"{listing} does not exist (expected lines 'path,pid,camid,modality,split')")
        rows = {"train": [], "test": []}
        with open(listing) as f:
            for number, row in enumerate(csv.reader(f), start=1):
                if len(row) != 5 or row[4] not in rows:
                    raise ValueError(f"{listing}, line {number}: expected 'path,pid,camid,modality,train|test', got {row}")
                path = os.path.join(root, row[0])
                if not os.path.isfile(path):
                    raise FileNotFoundError(f"{listing}, line {number}: image {path} does not exist")
                rows[row[4]].append(ReidItem(path, int(row[1]), int(row[2]), int(row[3])))
        relabel = {pid: label for label, pid in enumerate(sorted({item.pid for item in rows["train"]}))}
        train = [ReidItem(it.path, relabel[it.pid], it.camid, it.modality) for it in rows["train"]]
        super().__init__(root, train, rows["test"])

    @classmethod
    def from_config(cls, cfg):
        return {"root": os.path.join(cfg.DATASETS.ROOT, "CsvList")}


def demo(data_root: str):
    os.makedirs(os.path.join(data_root, "CsvList"), exist_ok=True)
    lines = []
    for n, (pid, cam, modality, split) in enumerate([(7, 1, 0, "train"), (7, 3, 1, "train"), (9, 1, 0, "train"),
                                                      (2, 1, 0, "test"), (2, 3, 1, "test")]):
        cv2.imwrite(os.path.join(data_root, "CsvList", f"{n}.png"), np.full((16, 8, 3), 40 * n, np.uint8))
        lines.append(f"{n}.png,{pid},{cam},{modality},{split}\n")
    with open(os.path.join(data_root, "CsvList", "list.csv"), "w") as f:
        f.writelines(lines)
    cfg = get_cfg()
    cfg.DATASETS.ROOT = data_root
    cfg.INPUT.SIZE_TEST = [16, 8]
    cfg.DATALOADER.NUM_WORKERS = 0
    dataset = build_dataset(cfg, "CsvListDataset")
    assert CsvListDataset(os.path.join(data_root, "CsvList")).test == dataset.test  # built without a config
    return dataset, next(iter(build_test_loader(cfg, dataset)))
