"""Getting a trained model out of the training loop: ONNX export of the retrieval path, and
resumable batch feature extraction over a folder or a list of images."""
from .features import extract_features, list_images, load_features, paths_file
from .model import build_inference_model
from .onnx import ImageToFeatures, export_onnx, onnx_max_abs_difference

__all__ = [
    "ImageToFeatures",
    "build_inference_model",
    "export_onnx",
    "extract_features",
    "list_images",
    "load_features",
    "onnx_max_abs_difference",
    "paths_file",
]
