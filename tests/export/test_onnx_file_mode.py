"""An exported .onnx file honours the umask like every other written file (the exporter writes
it to a temporary file first, which mkstemp alone would leave at 0600)."""
import os

import pytest
import torch

from partreid.export.onnx import export_onnx

pytest.importorskip("onnx")


class MeanColour(torch.nn.Module):
    """The smallest model with the partreid eval contract: {"images": uint8} -> features."""

    def forward(self, batch):
        return batch["images"].float().mean(dim=(2, 3))


def test_onnx_file_honours_the_umask(tmp_path):
    previous = os.umask(0o022)
    try:
        path = export_onnx(MeanColour(), str(tmp_path / "model.onnx"), [8, 4])
    finally:
        os.umask(previous)
    assert os.stat(path).st_mode & 0o777 == 0o644
    assert not [f for f in os.listdir(tmp_path) if f.endswith(".tmp")]
