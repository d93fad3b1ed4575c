"""Render the SynthVI dataset (SYSU-MM01 layout) to disk and print its summary.

Example: python tools/generate_synthvi.py --root datasets/SynthVI --num-workers 2
"""
import argparse
import json
import logging

from partreid.data.synthvi import generate_synthvi
from partreid.utils.cli import run_tool


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--root", default="datasets/SynthVI", help="output folder (default: %(default)s)")
    parser.add_argument("--num-train-ids", type=int, default=64, help="train+val identities (default: %(default)s)")
    parser.add_argument("--num-test-ids", type=int, default=32, help="test identities (default: %(default)s)")
    parser.add_argument("--images-per-camera", type=int, default=4,
                        help="images per identity per camera (default: %(default)s)")
    parser.add_argument("--image-size", type=int, nargs=2, default=(128, 64), metavar=("HEIGHT", "WIDTH"),
                        help="crop size (default: 128 64)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed (default: %(default)s)")
    parser.add_argument("--num-workers", type=int, default=0,
                        help="rendering processes; 0 renders in this process (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    summary = generate_synthvi(
        args.root,
        num_train_ids=args.num_train_ids,
        num_test_ids=args.num_test_ids,
        images_per_camera=args.images_per_camera,
        image_size=tuple(args.image_size),
        seed=args.seed,
        num_workers=args.num_workers,
    )
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    run_tool(main)
