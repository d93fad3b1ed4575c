"""The item and dataset types every loader, sampler and evaluator agrees on."""
from dataclasses import dataclass
from typing import List

VISIBLE = 0
INFRARED = 1


@dataclass(frozen=True)
class ReidItem:
    """One image. `pid` is relabelled 0..N-1 for training items and raw for test items;
    `modality` is VISIBLE or INFRARED; `role` is "query"/"gallery" where a dataset fixes the
    split itself (single-modality ReID), empty where the evaluator's protocol decides."""

    path: str
    pid: int
    camid: int
    modality: int
    role: str = ""


class ReidDataset:
    """Base for registered datasets: subclasses fill `train` and `test` in __init__ after
    checking the on-disk layout, and name their protocol's evaluator."""

    default_evaluator = "ReidEvaluator"

    def __init__(self, root: str, train: List[ReidItem], test: List[ReidItem]):
        self.root = root
        self.train = train
        self.test = test

    @property
    def num_train_pids(self) -> int:
        return len({item.pid for item in self.train})
