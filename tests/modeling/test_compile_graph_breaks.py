"""torch.compile captures the training step of the baseline, model and losses, in one graph:
no host sync (.item(), a branch on a tensor), no data-dependent shape, no generator call; the
one break left is the training accuracy's recording, last in the forward (it touches the
trainer's storage, Python state). And the compiled step does not recompile at every iteration."""
import os

import pytest

from partreid.config import setup_cfg
from partreid.utils.testing import RECORDING_BREAK, compiled_training_graphs, training_step_graph_breaks

CONFIG = os.path.join(os.path.dirname(__file__), "..", "..", "configs", "synthvi_baseline.yaml")


@pytest.mark.slow  # about 15 s: dynamo's first trace
def test_baseline_training_step_breaks_only_to_record_its_accuracy():
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "MODEL.NUM_CLASSES", "8", "INPUT.SIZE_TRAIN", "[64,32]"])
    breaks = training_step_graph_breaks(cfg)
    assert len(breaks) == 1 and RECORDING_BREAK in breaks[0], breaks


@pytest.mark.slow  # about 30 s
def test_compiled_step_compiles_once_per_kind_of_step_not_per_iteration():
    """The iteration and the epoch become dynamic after their first change (2 recompilations),
    then every step reuses the graph; the storage still receives every step's accuracy."""
    cfg = setup_cfg(CONFIG, ["MODEL.DEVICE", "cpu", "MODEL.NUM_CLASSES", "8", "INPUT.SIZE_TRAIN", "[64,32]"])
    graphs, accuracies = compiled_training_graphs(cfg, iterations=6)
    assert graphs <= 3 and len(accuracies) == 6
