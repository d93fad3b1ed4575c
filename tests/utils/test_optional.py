"""A missing optional dependency fails naming the partreid extra that installs it."""
import importlib
import sys

import pytest
import torch

from partreid.export import export_onnx, onnx_max_abs_difference


def test_visualization_without_matplotlib_names_the_viz_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)  # None: "cannot be imported"
    monkeypatch.delitem(sys.modules, "partreid.utils.visualization", raising=False)
    with pytest.raises(ImportError, match=r'matplotlib.*pip install -e "\.\[viz\]"'):
        importlib.import_module("partreid.utils.visualization")


def test_onnx_export_without_onnx_names_the_export_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(ImportError, match=r'ONNX export needs onnx.*pip install -e "\.\[export\]"'):
        export_onnx(torch.nn.Identity(), str(tmp_path / "m.onnx"), [8, 4])
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ImportError, match=r'onnxruntime.*"\.\[export\]"'):
        onnx_max_abs_difference(torch.nn.Identity(), str(tmp_path / "m.onnx"), torch.zeros(1, 3, 8, 4, dtype=torch.uint8))


def test_tensorboard_writer_without_tensorboard_names_the_extra(monkeypatch, tmp_path):
    from partreid.utils.events import TensorboardWriter

    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    with pytest.raises(ImportError, match=r'TensorboardWriter needs tensorboard.*"\.\[tensorboard\]"'):
        TensorboardWriter(str(tmp_path))
