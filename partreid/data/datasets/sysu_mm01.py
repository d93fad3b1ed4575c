"""SYSU-MM01 (Wu et al., ICCV 2017): 6 cameras, 4 visible and 2 near-infrared."""
import logging
import os
from typing import List

from ...config.configurable import config_arguments, configurable
from ..build import DATASET_REGISTRY
from .base import INFRARED, VISIBLE, ReidDataset, ReidItem
from .layout import collect_identity_images, read_id_line, relabel, require_dir

logger = logging.getLogger(__name__)

SYSU_CAMERAS = {1: VISIBLE, 2: VISIBLE, 3: INFRARED, 4: VISIBLE, 5: VISIBLE, 6: INFRARED}

SYSU_LAYOUT = """\
  <root>/cam1 .. cam6/<pid:04d>/<n:04d>.jpg   (cams 1,2,4,5 visible; 3,6 infrared)
  <root>/exp/train_id.txt, val_id.txt, test_id.txt   (one comma-separated line of ids each)
  <root>/exp/rand_perm_cam.mat   (optional: the official gallery draws)"""


@DATASET_REGISTRY.register()
class SYSUMM01(ReidDataset):
    """Train on the train+val identities (relabelled 0..N-1); `test` holds every image of the
    test identities, and the SYSU evaluator draws queries and galleries from it."""

    folder = "SYSU-MM01"
    default_evaluator = "SYSUEvaluator"
    # The id lists under exp/ that make the training and the test identities: the protocol
    # trains on train + val; a validation variant trains on train and tests on val.
    train_id_files = ("train_id.txt", "val_id.txt")
    test_id_file = "test_id.txt"

    @configurable
    def __init__(self, root: str):
        """
        Args:
            root: the dataset's folder (from a config: DATASETS.ROOT/<folder>).
        """
        self.prepare(root)
        require_dir(root, SYSU_LAYOUT)
        for cam in SYSU_CAMERAS:
            require_dir(os.path.join(root, f"cam{cam}"), SYSU_LAYOUT)
        exp = os.path.join(root, "exp")
        train_ids = [pid for name in self.train_id_files for pid in read_id_line(os.path.join(exp, name), SYSU_LAYOUT)]
        test_ids = read_id_line(os.path.join(exp, self.test_id_file), SYSU_LAYOUT)

        labels = relabel(train_ids)
        train = [
            ReidItem(item.path, labels[item.pid], item.camid, item.modality)
            for item in self._collect(root, sorted(labels), " or ".join(f"exp/{name}" for name in self.train_id_files))
        ]
        test = self._collect(root, sorted(set(test_ids)), f"exp/{self.test_id_file}")
        super().__init__(root, train, test)
        logger.info(
            "%s at %s: %d train ids / %d images, %d test ids / %d images",
            type(self).__name__, root, self.num_train_pids, len(train), len(set(test_ids)), len(test),
        )

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {}, root=os.path.join(cfg.DATASETS.ROOT, cls.folder))

    def prepare(self, root: str) -> None:
        """Hook run before the layout check (SynthVI generates its tree here)."""

    @staticmethod
    def _collect(root: str, pids: List[int], source: str) -> List[ReidItem]:
        cameras = [(cam, modality, os.path.join(root, f"cam{cam}")) for cam, modality in SYSU_CAMERAS.items()]
        return collect_identity_images(
            pids, cameras,
            lambda pid: f"Identity {pid} listed in {root}/{source} has no folder "
                        f"{root}/cam<1..6>/{pid:04d}\nExpected layout:\n{SYSU_LAYOUT}",
        )
