"""Getting a trained model out of the training loop: ONNX export of the retrieval path, and
resumable batch feature extraction over a folder or a list of images."""
from .features import extract_features, list_images, load_features, paths_file
from .model import build_inference_model, config_record_path, setup_cfg_for_weights, write_config_record
from .onnx import ImageToFeatures, export_onnx, onnx_max_abs_difference

__all__ = [
    "ImageToFeatures",
    "build_inference_model",
    "config_record_path",
    "export_onnx",
    "extract_features",
    "list_images",
    "load_features",
    "onnx_max_abs_difference",
    "paths_file",
    "setup_cfg_for_weights",
    "write_config_record",
]
