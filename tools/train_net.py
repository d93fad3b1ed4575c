#!/usr/bin/env python
"""Train and/or evaluate a partreid model from a YAML config.

    python tools/train_net.py --config-file projects/PartMix/configs/synthvi_partmix.yaml
    python tools/train_net.py --config-file CFG --resume
    python tools/train_net.py --config-file CFG --eval-only MODEL.WEIGHTS output/model_final.pth
    python tools/train_net.py --config-file CFG --num-gpus 4        # or: torchrun --nproc_per_node 4 ...
    python tools/train_net.py --config-file CFG --print-recipe      # the recipe card, no training
"""
import logging

from partreid.engine import DefaultTrainer, default_argument_parser, default_setup, launch, setup_cfg
from partreid.engine.recipe import recipe_card
from partreid.modeling.meta_arch.build import resolve_device
from partreid.utils.env import configure_cublas_workspace

logger = logging.getLogger("partreid.train_net")


def main(args):
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    if getattr(args, "print_recipe", False):
        print(recipe_card(cfg, args.config_file, args.opts))
        return None
    default_setup(cfg, args)
    if args.eval_only:
        return DefaultTrainer.evaluate_weights(cfg)
    cfg.freeze()
    logger.info(recipe_card(cfg, args.config_file, args.opts))
    trainer = DefaultTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def cli(argv=None):
    args = default_argument_parser().parse_args(argv)
    cfg = setup_cfg(args.config_file, args.opts)
    if cfg.DETERMINISTIC and resolve_device(cfg).type == "cuda":
        configure_cublas_workspace()  # launch() starts CUDA in every process; cuBLAS reads this when it starts
    launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    cli()
