"""RegDB (Nguyen et al., Sensors 2017): one visible and one thermal camera, 412 identities,
ten random 206/206 train/test splits ("trials") listed in `idx/`."""
import logging
import os
from ...config.configurable import ArgumentError, config_arguments, configurable
from ..build import DATASET_REGISTRY
from .base import INFRARED, VISIBLE, ReidDataset, ReidItem
from .layout import read_idx_list, relabel, require_dir

logger = logging.getLogger(__name__)

REGDB_LAYOUT = """\
  <root>/Visible/...   <root>/Thermal/...   (the images)
  <root>/idx/train_visible_<t>.txt, train_thermal_<t>.txt,
             test_visible_<t>.txt, test_thermal_<t>.txt   (t = 1..10; lines 'relative/path label')"""

# RegDB has a single camera per modality; these camids only keep the two apart.
REGDB_CAMERAS = {VISIBLE: 1, INFRARED: 2}
NUM_TRIALS = 10


@DATASET_REGISTRY.register()
class RegDB(ReidDataset):
    """One trial of RegDB (`trial`, DATASETS.REGDB_TRIAL): training identities relabelled 0..N-1,
    `test` holds both modalities of the trial's test identities with raw labels."""

    folder = "RegDB"
    default_evaluator = "RegDBEvaluator"

    @configurable
    def __init__(self, root: str, *, trial: int):
        """
        Args:
            root: the dataset's folder (from a config: DATASETS.ROOT/RegDB).
            trial: the split trial, 1..10.
        """
        if not 1 <= int(trial) <= NUM_TRIALS:
            raise ArgumentError("{trial} must be in 1..{last}, got {value}", last=NUM_TRIALS, value=trial)
        self.trial = int(trial)
        require_dir(root, REGDB_LAYOUT)
        require_dir(os.path.join(root, "idx"), REGDB_LAYOUT)

        def read(split, modality, name):
            path = os.path.join(root, "idx", f"{split}_{name}_{self.trial}.txt")
            return [(image, label, modality) for image, label in read_idx_list(path, root, REGDB_LAYOUT)]

        train_entries = read("train", VISIBLE, "visible") + read("train", INFRARED, "thermal")
        test_entries = read("test", VISIBLE, "visible") + read("test", INFRARED, "thermal")
        labels = relabel(label for _, label, _ in train_entries)
        train = [ReidItem(p, labels[label], REGDB_CAMERAS[m], m) for p, label, m in train_entries]
        test = [ReidItem(p, label, REGDB_CAMERAS[m], m) for p, label, m in test_entries]
        super().__init__(root, train, test)
        logger.info(
            "RegDB trial %d at %s: %d train ids / %d images, %d test images",
            self.trial, root, self.num_train_pids, len(train), len(test),
        )

    @classmethod
    def from_config(cls, cfg):
        root = os.path.join(cfg.DATASETS.ROOT, cls.folder)
        return config_arguments(cfg, {"trial": "DATASETS.REGDB_TRIAL"}, root=root)
