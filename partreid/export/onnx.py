"""ONNX export of the retrieval path: uint8 images in, BN-necked person descriptors out.

The graph takes the decoded image batch as it is (uint8, RGB, (B,3,H,W), IR images as three
identical channels) and normalises it inside with MODEL.PIXEL_MEAN/STD, exactly like the
PyTorch model does; a deployment therefore cannot get the normalisation wrong, and the input
is 4x smaller than a float tensor. The batch axis is dynamic; H and W are fixed at export.
"""
import logging
import os
from typing import Sequence

import numpy as np
import torch
import torch.nn as nn

from ..checkpoint.checkpointer import replace_durably, temporary_path
from ..utils.optional import missing_extra

logger = logging.getLogger(__name__)

INPUT_NAME = "images"
OUTPUT_NAME = "features"


class ImageToFeatures(nn.Module):
    """Wraps a partreid model (whose eval forward maps {"images": uint8} to features) as
    a plain tensor -> tensor module, which is what the exporters trace."""

    def __init__(self, model: nn.Module):
        super().__init__()
        self.model = model

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.model({"images": images})


def export_onnx(model: nn.Module, path: str, image_size_hw: Sequence[int], opset: int = 17) -> str:
    """Export `model` (moved to the CPU, left in eval mode) to `path` with a dynamic batch axis; the file is
    written to a temporary name, checked with onnx.checker, then moved into place. Returns path."""
    try:
        import onnx
    except ImportError as e:
        raise missing_extra("onnx", "export", "ONNX export") from e

    if len(image_size_hw) != 2 or min(image_size_hw) <= 0:
        raise ValueError(f"image_size_hw must be [height, width] > 0 (INPUT.SIZE_TEST), got {list(image_size_hw)}")
    # eval() on the wrapper: the exporter restores the wrapper's mode (recursively) when done.
    wrapper = ImageToFeatures(model.cpu()).eval()
    example = torch.zeros((2, 3, *image_size_hw), dtype=torch.uint8)
    tmp = temporary_path(path)
    try:
        with torch.no_grad():
            torch.onnx.export(
                wrapper,
                (example,),
                tmp,
                dynamo=False,  # the TorchScript exporter needs no onnxscript and handles dynamic_axes
                input_names=[INPUT_NAME],
                output_names=[OUTPUT_NAME],
                dynamic_axes={INPUT_NAME: {0: "batch"}, OUTPUT_NAME: {0: "batch"}},
                opset_version=opset,
            )
        onnx.checker.check_model(onnx.load(tmp))
        replace_durably(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    logger.info("Exported ONNX model to %s (input %s: uint8 (batch,3,%d,%d); output %s)",
                path, INPUT_NAME, image_size_hw[0], image_size_hw[1], OUTPUT_NAME)
    return path


def onnx_max_abs_difference(model: nn.Module, path: str, images: torch.Tensor) -> float:
    """Largest absolute difference between onnxruntime's and PyTorch's features on `images`
    (uint8 (B,3,H,W)): the check to run after an export."""
    try:
        import onnxruntime
    except ImportError as e:
        raise missing_extra("onnxruntime", "export", "The ONNX parity check") from e

    if images.dtype != torch.uint8:
        raise TypeError(f"images must be uint8 (B,3,H,W) as the exported graph expects, got {images.dtype}")
    session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
    (onnx_features,) = session.run([OUTPUT_NAME], {INPUT_NAME: images.numpy()})
    with torch.no_grad():
        torch_features = ImageToFeatures(model.cpu()).eval()(images).numpy()
    if onnx_features.shape != torch_features.shape:
        raise RuntimeError(f"ONNX features have shape {onnx_features.shape}, PyTorch's {torch_features.shape}")
    return float(np.abs(onnx_features - torch_features).max())
