"""torch.compile captures PartMix's training step (mining, mixing, all losses) in one graph
when the diagnostics are off (their default); asked for, they break it at the steps they run."""
import os

import pytest

from partreid.config import setup_cfg
from partreid.utils.testing import training_step_graph_breaks

CONFIGS = os.path.join(os.path.dirname(__file__), "..", "configs")
TINY = ["MODEL.DEVICE", "cpu", "MODEL.NUM_CLASSES", "8", "INPUT.SIZE_TRAIN", "[64,32]", "MODEL.BACKBONE.DEPTH", "18",
        "MODEL.BACKBONE.PRETRAIN_PATH", "", "MODEL.BACKBONE.ALLOW_RANDOM_INIT", "True"]


@pytest.mark.slow
@pytest.mark.parametrize("config", ["sysu_partmix.yaml", "synthvi_partmix.yaml"])
def test_partmix_training_step_has_no_graph_break(config):
    cfg = setup_cfg(os.path.join(CONFIGS, config), TINY + ["PARTMIX.DIAGNOSTICS_PERIOD", "0"])
    assert training_step_graph_breaks(cfg) == []
