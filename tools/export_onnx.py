#!/usr/bin/env python
"""Export a trained model's retrieval path to ONNX and check it against PyTorch.

    python tools/export_onnx.py --output model.onnx MODEL.WEIGHTS output/model_final.pth

The model is built from the config.yaml of the run folder that holds MODEL.WEIGHTS, unless
--config-file names another; model_config.yaml beside the .onnx records it.

Input "images": uint8 (batch, 3, H, W) RGB at INPUT.SIZE_TEST (normalisation is inside the
graph; dynamic batch). Output "features": float32 (batch, D), the BN-necked descriptor that
the evaluators rank with cosine distance. TEST.FLIP_FEATURES is not part of the graph: to
flip-average, run the graph on the flipped batch too and average.
"""
import argparse
import logging

import torch

from partreid.export import (
    build_inference_model,
    export_onnx,
    onnx_max_abs_difference,
    setup_cfg_for_weights,
    write_config_record,
)
from partreid.utils.cli import run_tool
from partreid.utils.logger import setup_logger

logger = logging.getLogger("partreid.export_onnx")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", metavar="FILE",
                        help="the model's YAML config (default: config.yaml of the run folder holding MODEL.WEIGHTS)")
    parser.add_argument("--output", required=True, help="the .onnx file to write")
    parser.add_argument("--opset", type=int, default=17, help="ONNX opset version")
    parser.add_argument("--tolerance", type=float, default=1e-3,
                        help="largest accepted |onnxruntime - PyTorch| on a random check batch")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, e.g. MODEL.WEIGHTS model_final.pth")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    setup_logger()
    cfg = setup_cfg_for_weights(args.config_file, args.opts)
    model = build_inference_model(cfg)
    export_onnx(model, args.output, cfg.INPUT.SIZE_TEST, opset=args.opset)
    write_config_record(cfg, args.output)
    images = torch.randint(0, 256, (3, 3, *cfg.INPUT.SIZE_TEST), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    difference = onnx_max_abs_difference(model, args.output, images)
    logger.info("onnxruntime vs PyTorch on a batch of 3 random images: max |difference| = %.3g", difference)
    if difference > args.tolerance:
        raise SystemExit(f"ONNX features differ from PyTorch's by {difference:.3g} > --tolerance {args.tolerance}")
    return difference


if __name__ == "__main__":
    run_tool(main)
