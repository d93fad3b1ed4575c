"""PartMix's shipped configs on a real dataset name the ImageNet weights and refuse random init;
its SynthVI configs train from scratch on purpose (the core checks its own configs the same way
in tests/modeling/test_backbone.py)."""
from pathlib import Path

from partreid.utils.testing import assert_configs_start_as_shipped

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_real_dataset_configs_start_from_imagenet_and_synthvi_from_scratch():
    assert_configs_start_as_shipped(str(CONFIGS))
