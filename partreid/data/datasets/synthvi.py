"""SynthVI: a small synthetic visible-infrared set in the SYSU-MM01 layout, generated on
demand so that the whole pipeline runs (and is tested) without any downloaded data."""
import json
import logging
import os
import shutil
from typing import Optional

from iopath.common.file_io import g_pathmgr

from ...utils import comm
from ..build import DATASET_REGISTRY
from .layout import DatasetLayoutError
from .sysu_mm01 import SYSUMM01

logger = logging.getLogger(__name__)

MARKER = "SYNTHVI_DONE.json"
# What a generated tree consists of; a folder holding anything else is never replaced.
GENERATED_ENTRIES = {f"cam{c}" for c in range(1, 7)} | {"exp", MARKER}


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
    path = os.path.join(root, MARKER)
    if not g_pathmgr.isfile(path):
        return False
    with g_pathmgr.open(path, "r") as f:
        try:
            marker = json.load(f)
        except json.JSONDecodeError:
            return False
    if not isinstance(marker, dict):
        return False
    return {key: marker.get(key) for key in params} == params


def ensure_synthvi(root: str, params: dict, auto_generate: bool) -> None:
    """Make `root` hold a complete SynthVI tree generated with `params`.

    The tree is generated into a sibling folder and swapped in, so an interrupted run never
    leaves a half-written tree behind a valid-looking marker. Only the main process writes."""
    if _marker_matches(root, params):
        return
    if not auto_generate:
        raise DatasetLayoutError(
            f"SynthVI at {root} is missing or was generated with other parameters than {params} "
            f"(see {os.path.join(root, MARKER)}); set DATASETS.SYNTHVI.AUTO_GENERATE True to (re)generate it"
        )
    if comm.is_main_process():
        if g_pathmgr.isdir(root):
            foreign = set(g_pathmgr.ls(root)) - GENERATED_ENTRIES
            if foreign:
                raise DatasetLayoutError(
                    f"Refusing to regenerate SynthVI over {root}: it holds entries a generated tree does not "
                    f"({', '.join(sorted(foreign))}). Move them away or point DATASETS.ROOT elsewhere."
                )
        from ..synthvi_generator import generate_synthvi

        staging = f"{root}.generating-{os.getpid()}"
        if g_pathmgr.isdir(staging):
            shutil.rmtree(staging)
        logger.info("Generating SynthVI at %s with %s", root, params)
        generate_synthvi(staging, **params)
        if g_pathmgr.isdir(root):
            shutil.rmtree(root)
        os.replace(staging, root)
    comm.synchronize()
    if not _marker_matches(root, params):
        raise DatasetLayoutError(f"SynthVI generation at {root} did not leave a {MARKER} matching {params}")


@DATASET_REGISTRY.register()
class SynthVI(SYSUMM01):
    """SYSU-MM01 layout under DATASETS.ROOT/SynthVI, (re)generated from DATASETS.SYNTHVI.*
    when its marker is missing or records other parameters."""

    folder = "SynthVI"
    default_evaluator = "SYSUEvaluator"

    def __init__(self, cfg=None, root: Optional[str] = None, params: Optional[dict] = None,
                 auto_generate: Optional[bool] = None):
        if cfg is None and params is None:
            raise ValueError("SynthVI needs a cfg (DATASETS.SYNTHVI.*) or explicit generation params")
        self.params = params if params is not None else synthvi_parameters(cfg)
        self.auto_generate = auto_generate if auto_generate is not None else bool(cfg.DATASETS.SYNTHVI.AUTO_GENERATE)
        super().__init__(cfg, root)

    def prepare(self, root: str) -> None:
        ensure_synthvi(root, self.params, self.auto_generate)
