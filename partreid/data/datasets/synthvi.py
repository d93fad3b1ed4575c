"""SynthVI: a small synthetic visible-infrared set in the SYSU-MM01 layout, generated on
demand so that the whole pipeline runs (and is tested) without any downloaded data."""
import json
import os
from typing import Optional

from iopath.common.file_io import g_pathmgr

from ...utils import comm
from ..build import DATASET_REGISTRY
from .layout import DatasetLayoutError
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
            from ..synthvi_generator import generate_synthvi

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
    when its marker is missing or records other parameters."""

    folder = "SynthVI"
    default_evaluator = "SYSUEvaluator"

    def __init__(self, cfg=None, root: Optional[str] = None, params: Optional[dict] = None,
                 auto_generate: Optional[bool] = None):
        if cfg is None and params is None:
            raise ValueError("SynthVI needs a cfg (DATASETS.SYNTHVI.*) or explicit generation params")
        self.params = params if params is not None else synthvi_parameters(cfg)
        if auto_generate is None:
            auto_generate = cfg is None or bool(cfg.DATASETS.SYNTHVI.AUTO_GENERATE)
        self.auto_generate = auto_generate
        super().__init__(cfg, root)

    def prepare(self, root: str) -> None:
        ensure_synthvi(root, self.params, self.auto_generate)
