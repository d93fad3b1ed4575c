"""PartMix's shipped configs on a real dataset name the ImageNet weights and refuse random init;
its SynthVI configs train from scratch on purpose (the core checks its own configs the same way
in tests/modeling/test_backbone.py)."""
from pathlib import Path

from partreid.config import setup_cfg

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_real_dataset_configs_start_from_imagenet_and_synthvi_from_scratch():
    paths = sorted(p for p in CONFIGS.glob("*.yaml") if not p.name.startswith("Base-"))
    assert paths
    for path in paths:
        cfg = setup_cfg(str(path), freeze=False)
        backbone = cfg.MODEL.BACKBONE
        if cfg.DATASETS.TRAIN == "SynthVI":
            assert (backbone.PRETRAIN_PATH, backbone.ALLOW_RANDOM_INIT) == ("", True), path.name
        else:
            assert (backbone.PRETRAIN_PATH, backbone.ALLOW_RANDOM_INIT) == ("torchvision://resnet50", False), path.name
