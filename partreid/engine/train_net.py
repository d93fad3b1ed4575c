"""Train and/or evaluate a partreid model from a YAML config: the entry point of tools/train_net.py,
importable, so that `python -m partreid.engine.train_net` works from an installed package.

    python -m partreid.engine.train_net --config-file configs/synthvi_baseline.yaml
    python -m partreid.engine.train_net --config-file CFG --resume
    python -m partreid.engine.train_net --eval-only MODEL.WEIGHTS output/model_final.pth   # with output/config.yaml
    python -m partreid.engine.train_net --config-file CFG --num-gpus 4        # or: torchrun --nproc_per_node 4 ...
    python -m partreid.engine.train_net --config-file CFG --print-recipe      # the recipe card, no training

--eval-only builds the model from the config.yaml of the run folder that holds MODEL.WEIGHTS
(and writes into that folder) unless --config-file names another; it writes eval_results.json and
eval_config.yaml to OUTPUT_DIR and leaves the run's config.yaml as it was.
"""
import logging
import os

from ..checkpoint import config_file_for_weights
from ..checkpoint.run_config import weights_in
from .defaults import DefaultTrainer, default_argument_parser, default_setup, setup_cfg
from .launch import launch
from .recipe import recipe_card
from ..utils.cli import run_tool
from ..utils.env import configure_cublas_workspace, resolve_device
from ..utils.errors import ConfigError

logger = logging.getLogger("partreid.train_net")


def resolve_config_file(args) -> str:
    """Fill in args.config_file (and OUTPUT_DIR for --eval-only from a run folder); returns where
    the config came from, for the log."""
    if args.eval_only:
        from_run_folder = not args.config_file
        args.config_file, source = config_file_for_weights(args.config_file, args.opts)
        if from_run_folder and "OUTPUT_DIR" not in args.opts[0::2]:
            # the folder may have moved since its config.yaml was written: the results go beside the weights
            args.opts = [*args.opts, "OUTPUT_DIR", os.path.dirname(os.path.abspath(weights_in(args.opts)))]
        return source
    if not args.config_file:
        raise ConfigError("--config-file is required to train (--eval-only alone may take it from the run folder "
                          "of MODEL.WEIGHTS)")
    return "--config-file"


def main(args):
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    if getattr(args, "print_recipe", False):
        print(recipe_card(cfg, args.config_file, args.opts))
        return None
    default_setup(cfg, args, write_config=not args.eval_only)
    if args.eval_only:
        logger.info(f"Config: {args.config_file} ({args.config_source})")
        return DefaultTrainer.evaluate_weights(cfg)
    cfg.freeze()
    logger.info(recipe_card(cfg, args.config_file, args.opts))
    trainer = DefaultTrainer(cfg)
    trainer.resume_or_load(resume=args.resume)
    return trainer.train()


def cli(argv=None):
    args = default_argument_parser().parse_args(argv)
    args.config_source = resolve_config_file(args)
    cfg = setup_cfg(args.config_file, args.opts)
    if cfg.DETERMINISTIC and resolve_device(cfg).type == "cuda":
        configure_cublas_workspace()  # launch() starts CUDA in every process; cuBLAS reads this when it starts
    return launch(main, args.num_gpus, num_machines=args.num_machines, machine_rank=args.machine_rank,
                  dist_url=args.dist_url, args=(args,))


if __name__ == "__main__":
    run_tool(cli)
