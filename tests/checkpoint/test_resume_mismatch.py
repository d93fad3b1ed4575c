"""Resuming with a config that trains other parameters fails with an error that says why."""
import pytest
import torch
import torch.nn as nn

from partreid.checkpoint import ReidCheckpointer


def test_an_optimizer_saved_for_other_parameters_is_explained(tmp_path):
    model = nn.Sequential(nn.Linear(3, 2), nn.Linear(2, 1))
    trained_both = torch.optim.SGD(model.parameters(), lr=0.1)
    ReidCheckpointer(model, str(tmp_path), optimizer=trained_both).save("model_0000009")
    # as when a config key turns learned parameters into fixed buffers
    trained_one = torch.optim.SGD(model[0].parameters(), lr=0.1)
    checkpointer = ReidCheckpointer(model, str(tmp_path), optimizer=trained_one)
    with pytest.raises(ValueError, match=r"model_0000009.pth does not fit this run .*WEIGHT_DECAY_NORM.*config.yaml"):
        checkpointer.resume_or_load("", resume=True)
    # the weights alone still load
    ReidCheckpointer(model, str(tmp_path)).load(str(tmp_path / "model_0000009.pth"), checkpointables=[])
