"""LLCM (Zhang & Wang, CVPR 2023): a low-light cross-modality benchmark, 9 cameras that each
record visible light by day and near-infrared by night. Layout as distributed with DEEN."""
import logging
import os
from ...config.configurable import config_arguments, configurable
from ..build import DATASET_REGISTRY
from .base import INFRARED, VISIBLE, ReidDataset, ReidItem
from .layout import (
    DatasetLayoutError,
    camera_dirs,
    collect_identity_images,
    camera_of,
    read_id_line,
    read_idx_list,
    relabel,
    require_dir,
)

logger = logging.getLogger(__name__)

LLCM_LAYOUT = """\
  <root>/idx/train_vis.txt, train_nir.txt   (lines 'relative/path label'; the path holds a cam<N> folder)
  <root>/idx/test_id.txt                    (one comma-separated line of test ids)
  <root>/train_vis/cam<N>/<pid:04d>/*.jpg, <root>/train_nir/cam<N>/<pid:04d>/*.jpg
  <root>/test_vis/cam<N>/<pid:04d>/*.jpg (N = 1..9),  <root>/test_nir/cam<N>/<pid:04d>/*.jpg (N = 1, 2, 4..9)"""

# The test cameras of LLCM's released test script (ZYK100/LLCM, DEEN's data_manager.py): its
# queries and gallery draws read these folders only (there is no near-infrared cam3). Any other
# cam<N> folder is left out with a warning, so that it cannot change the queries or the draws.
TEST_FOLDERS = {
    "test_vis": (VISIBLE, (1, 2, 3, 4, 5, 6, 7, 8, 9)),
    "test_nir": (INFRARED, (1, 2, 4, 5, 6, 7, 8, 9)),
}


@DATASET_REGISTRY.register()
class LLCM(ReidDataset):
    """Training identities of both idx lists relabelled 0..N-1; `test` holds every image of
    the test identities in both modalities (the evaluator picks the direction and draws)."""

    folder = "LLCM"
    default_evaluator = "LLCMEvaluator"

    @configurable
    def __init__(self, root: str):
        """
        Args:
            root: the dataset's folder (from a config: DATASETS.ROOT/LLCM).
        """
        require_dir(root, LLCM_LAYOUT)
        idx = os.path.join(root, "idx")
        require_dir(idx, LLCM_LAYOUT)

        train_entries = [
            (path, label, modality)
            for name, modality in (("train_vis.txt", VISIBLE), ("train_nir.txt", INFRARED))
            for path, label in read_idx_list(os.path.join(idx, name), root, LLCM_LAYOUT)
        ]
        labels = relabel(label for _, label, _ in train_entries)
        train = [ReidItem(p, labels[label], camera_of(p), m) for p, label, m in train_entries]

        test_ids = sorted(set(read_id_line(os.path.join(idx, "test_id.txt"), LLCM_LAYOUT)))
        folders = [(cam, modality, cam_dir) for name, (modality, released) in TEST_FOLDERS.items()
                   for cam, cam_dir in self._test_cameras(root, name, released).items()]
        test = collect_identity_images(
            test_ids, folders,
            lambda pid: f"Identity {pid} listed in {idx}/test_id.txt has no folder "
                        f"{root}/test_vis|test_nir/cam<N>/{pid:04d}\nExpected layout:\n{LLCM_LAYOUT}",
        )
        super().__init__(root, train, test)
        logger.info(
            "LLCM at %s: %d train ids / %d images, %d test ids / %d images",
            root, self.num_train_pids, len(train), len(test_ids), len(test),
        )

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {}, root=os.path.join(cfg.DATASETS.ROOT, cls.folder))

    @staticmethod
    def _test_cameras(root: str, name: str, released) -> dict:
        """{camera: folder} of root/name among the released script's cameras; the others are
        named in a warning and left out."""
        found = camera_dirs(os.path.join(root, name), LLCM_LAYOUT)
        ignored = sorted(set(found) - set(released))
        if ignored:
            logger.warning(
                "LLCM: ignoring %s (not a test camera of LLCM's released test script, which reads %s/cam%s only)",
                ", ".join(f"{root}/{name}/cam{cam}" for cam in ignored), name, ",".join(map(str, released)),
            )
        used = {cam: folder for cam, folder in found.items() if cam in released}
        if not used:
            raise DatasetLayoutError(
                f"No test camera folder of LLCM's released test script in {root}/{name} "
                f"(expected some of cam{', cam'.join(map(str, released))})\nExpected layout:\n{LLCM_LAYOUT}"
            )
        return used
