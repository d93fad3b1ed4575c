#!/usr/bin/env python
"""Train and/or evaluate a partreid model from a YAML config.

    python tools/train_net.py --config-file projects/PartMix/configs/synthvi_partmix.yaml
    python tools/train_net.py --config-file CFG --resume
    python tools/train_net.py --eval-only MODEL.WEIGHTS output/model_final.pth   # with output/config.yaml
    python tools/train_net.py --config-file CFG --num-gpus 4        # or: torchrun --nproc_per_node 4 ...
    python tools/train_net.py --config-file CFG --print-recipe      # the recipe card, no training

--eval-only builds the model from the config.yaml of the run folder that holds MODEL.WEIGHTS
(and writes into that folder) unless --config-file names another; it writes eval_results.json and
eval_config.yaml to OUTPUT_DIR and leaves the run's config.yaml as it was.
"""
from partreid.engine.train_net import cli, main, resolve_config_file  # noqa: F401  (the tool's API)
from partreid.utils.cli import run_tool

if __name__ == "__main__":
    run_tool(cli)
