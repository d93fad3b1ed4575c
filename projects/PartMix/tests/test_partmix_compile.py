"""torch.compile captures PartMix's training step (mining, mixing, all losses) in one graph
when the diagnostics are off (their default); the one break left is the core's recording of the
training accuracy, last in the forward."""
import os

import pytest

from partreid.config import setup_cfg
from partreid.utils.testing import RECORDING_BREAK, training_step_graph_breaks

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")
TINY = ["MODEL.DEVICE", "cpu", "MODEL.NUM_CLASSES", "8", "INPUT.SIZE_TRAIN", "[64,32]", "MODEL.BACKBONE.DEPTH", "18",
        "MODEL.BACKBONE.PRETRAIN_PATH", "", "MODEL.BACKBONE.ALLOW_RANDOM_INIT", "True"]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["sysu_partmix.yaml", "synthvi_partmix.yaml"])
def test_partmix_training_step_breaks_only_to_record_its_accuracy(config):
    cfg = setup_cfg(os.path.join(CONFIGS, config), TINY + ["PARTMIX.DIAGNOSTICS_PERIOD", "0"])
    breaks = training_step_graph_breaks(cfg)
    assert len(breaks) == 1 and RECORDING_BREAK in breaks[0], breaks
