"""torch.compile captures the training step of the baseline, model and losses, in one graph:
no host sync (.item(), a branch on a tensor), no data-dependent shape, no generator call."""
import os

import pytest

from partreid.config import setup_cfg
from partreid.utils.testing import training_step_graph_breaks

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthvi_baseline.yaml")


@pytest.mark.slow  # about 15 s: dynamo's first trace
def test_baseline_training_step_has_no_graph_break():
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "MODEL.NUM_CLASSES", "8", "INPUT.SIZE_TRAIN", "[64,32]"])
    assert training_step_graph_breaks(cfg) == []
