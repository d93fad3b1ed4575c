#!/usr/bin/env python
"""Extract retrieval features of a folder or a list of images with a trained model.

    python tools/extract_features.py --input images/ --output feats.npy MODEL.WEIGHTS output/model_final.pth
    python tools/extract_features.py --config-file CFG --input list.txt --output feats.pt MODEL.WEIGHTS W

The model is built from the config.yaml of the run folder that holds MODEL.WEIGHTS, unless
--config-file names another. Rows follow the order of feats_paths.txt, and feats_config.yaml
records the config (both written beside the output). Rerunning the same command after an
interruption skips the chunks already written to <output>.chunks/.
"""
import argparse

from partreid.export import (
    build_inference_model,
    extract_features,
    list_images,
    setup_cfg_for_weights,
    write_config_record,
)
from partreid.utils.cli import run_tool
from partreid.utils.logger import setup_logger


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--config-file", default="", metavar="FILE",
                        help="the model's YAML config (default: config.yaml of the run folder holding MODEL.WEIGHTS)")
    parser.add_argument("--input", required=True, help="a folder of images (searched recursively) or a .txt list")
    parser.add_argument("--output", required=True, help="features file: .npy (float32 array) or .pt")
    parser.add_argument("--batch-size", type=int, default=0, help="images per forward pass (default TEST.IMS_PER_BATCH)")
    parser.add_argument("--chunk-size", type=int, default=4096, help="images per resumable chunk")
    parser.add_argument("--num-workers", type=int, default=-1, help="decoding workers (default DATALOADER.NUM_WORKERS)")
    parser.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides, e.g. MODEL.WEIGHTS model_final.pth")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    setup_logger()
    cfg = setup_cfg_for_weights(args.config_file, args.opts)
    model = build_inference_model(cfg)
    features = extract_features(
        model,
        list_images(args.input),
        args.output,
        size_hw=cfg.INPUT.SIZE_TEST,
        batch_size=args.batch_size or cfg.TEST.IMS_PER_BATCH,
        chunk_size=args.chunk_size,
        decoder=cfg.INPUT.DECODER,
        resize_backend=cfg.INPUT.RESIZE_BACKEND,
        num_workers=args.num_workers if args.num_workers >= 0 else cfg.DATALOADER.NUM_WORKERS,
        flip=cfg.TEST.FLIP_FEATURES,
        flip_fusion=cfg.TEST.FLIP_FUSION,
    )
    write_config_record(cfg, args.output)
    return features


if __name__ == "__main__":
    run_tool(main)
