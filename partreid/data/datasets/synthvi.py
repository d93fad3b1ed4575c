"""SynthVI: a small synthetic visible-infrared set in the SYSU-MM01 layout, generated on
demand so that the whole pipeline runs (and is tested) without any downloaded data."""
import json
import os
from typing import Dict, Tuple

import numpy as np
from iopath.common.file_io import g_pathmgr

from ...config.configurable import configurable
from ...utils import comm
from ..build import DATASET_REGISTRY
from ..synthvi import PART_MASK_DIR, PART_NAMES, part_mask_path
from .base import ReidItem
from .layout import DatasetLayoutError, camera_of
from .sysu_mm01 import SYSUMM01

MARKER = "SYNTHVI_DONE.json"


def synthvi_parameters(cfg) -> dict:
    """The generate_synthvi arguments (besides root) that DATASETS.SYNTHVI.* asks for."""
    s = cfg.DATASETS.SYNTHVI
    return {
        "num_train_ids": int(s.NUM_TRAIN_IDS),
        "num_test_ids": int(s.NUM_TEST_IDS),
        "images_per_camera": int(s.IMAGES_PER_CAMERA),
        "image_size": [int(v) for v in s.IMAGE_SIZE],
        "seed": int(s.SEED),
    }


def _marker_matches(root: str, params: dict) -> bool:
    """Whether `root` holds a finished tree generated with `params` (the generator writes the
    marker last, with its arguments under "parameters")."""
    path = os.path.join(root, MARKER)
    if not g_pathmgr.isfile(path):
        return False
    with g_pathmgr.open(path, "r") as f:
        try:
            recorded = json.load(f).get("parameters")
        except (json.JSONDecodeError, AttributeError):
            return False
    return isinstance(recorded, dict) and {key: recorded.get(key) for key in params} == params


def ensure_synthvi(root: str, params: dict, auto_generate: bool) -> None:
    """Make `root` hold a complete SynthVI tree generated with `params`. With `auto_generate`
    the main process hands over to the generator, which returns at once when the marker
    matches and otherwise clears its own files and regenerates; the other ranks wait."""
    if auto_generate:
        if comm.is_main_process():
            from ..synthvi import generate_synthvi

            generate_synthvi(root, **params)
        comm.synchronize()
    if not _marker_matches(root, params):
        what = "was not generated" if auto_generate else "is missing or was generated with other parameters"
        raise DatasetLayoutError(
            f"SynthVI at {root} {what}: {os.path.join(root, MARKER)} does not record {params}. "
            "Set DATASETS.SYNTHVI.AUTO_GENERATE True, or run tools/generate_synthvi.py with these parameters."
        )


@DATASET_REGISTRY.register()
class SynthVI(SYSUMM01):
    """SYSU-MM01 layout under DATASETS.ROOT/SynthVI, (re)generated from DATASETS.SYNTHVI.*
    when its marker is missing or records other parameters.

    Unlike SYSU-MM01 it knows where every body part is: `part_names` names the labels of the
    ground-truth part masks and `part_mask(item)` reads one image's mask (the part-discovery
    evaluation uses both). A tree generated before the masks existed has `part_names == ()`."""

    folder = "SynthVI"
    default_evaluator = "SYSUEvaluator"

    @configurable
    def __init__(self, root: str, *, params: dict, auto_generate: bool = True):
        """
        Args:
            root: the dataset's folder (from a config: DATASETS.ROOT/SynthVI).
            params: generate_synthvi's arguments besides root (see `synthvi_parameters`).
            auto_generate: generate the tree when `root` holds none made with `params`; False
                makes that an error.
        """
        self.params = params
        self.auto_generate = auto_generate
        self._part_mask_files: Dict[str, np.ndarray] = {}  # .npz path -> its masks, read on first use
        super().__init__(root)

    @classmethod
    def from_config(cls, cfg):
        arguments = super().from_config(cfg)
        arguments.update(params=synthvi_parameters(cfg), auto_generate=bool(cfg.DATASETS.SYNTHVI.AUTO_GENERATE))
        return arguments

    def prepare(self, root: str) -> None:
        ensure_synthvi(root, self.params, self.auto_generate)

    @property
    def part_names(self) -> Tuple[str, ...]:
        """Names of the part-mask labels (a mask pixel's value indexes them); () without masks."""
        return PART_NAMES if g_pathmgr.isdir(os.path.join(self.root, PART_MASK_DIR)) else ()

    def part_mask(self, item: ReidItem) -> np.ndarray:
        """The (H, W) uint8 ground-truth part mask of `item`'s image, at the generated size."""
        folder, name = os.path.split(item.path)
        pid, stem = os.path.basename(folder), os.path.splitext(name)[0]
        if not (pid.isdigit() and stem.isdigit()):
            raise ValueError(f"SynthVI image {item.path} is not cam<c>/<pid>/<number>.jpg; cannot find its part mask")
        path = part_mask_path(self.root, camera_of(item.path), int(pid))
        if path not in self._part_mask_files:
            if not g_pathmgr.isfile(path):
                raise DatasetLayoutError(f"Missing part masks {path} for {item.path}: regenerate SynthVI at "
                                         f"{self.root}")
            with g_pathmgr.open(path, "rb") as f:
                self._part_mask_files[path] = np.load(f)["masks"]
        masks = self._part_mask_files[path]
        if int(stem) > len(masks):
            raise DatasetLayoutError(f"{path} holds {len(masks)} masks; {item.path} needs mask {int(stem)}")
        return masks[int(stem) - 1]


@DATASET_REGISTRY.register()
class SynthVIVal(SynthVI):
    """SynthVI for choosing settings: trains on exp/train_id.txt only and tests, with the same
    protocol, on the held-out exp/val_id.txt identities (about one in ten of
    DATASETS.SYNTHVI.NUM_TRAIN_IDS), so that no choice ever looks at the test identities."""

    train_id_files = ("train_id.txt",)
    test_id_file = "val_id.txt"
