"""Build a trained model for inference outside the training engine, from the config it was
trained with, and record that config beside what a tool writes."""
import logging
import os

import torch

from .. import modeling  # noqa: F401  (registers the built-in components)
from ..checkpoint import ReidCheckpointer, atomic_write_bytes, config_file_for_weights
from ..config import setup_cfg
from ..modeling.meta_arch.build import build_model
from ..utils.errors import ConfigError

logger = logging.getLogger(__name__)


def setup_cfg_for_weights(config_file: str, opts):
    """The (unfrozen) config of a tool that loads MODEL.WEIGHTS: `config_file` + `opts` when a
    config file is given, else the config.yaml of the run folder holding MODEL.WEIGHTS + `opts`.
    Logs which one it used."""
    config_file, source = config_file_for_weights(config_file, opts)
    logger.info("Config: %s (%s)", config_file, source)
    return setup_cfg(config_file, opts, freeze=False)


def config_record_path(output: str) -> str:
    """Where a tool records the config its `output` was made with: <output stem>_config.yaml."""
    return os.path.splitext(output)[0] + "_config.yaml"


def write_config_record(cfg, output: str) -> str:
    """Write the config `output` was made with beside it (see config_record_path); returns that path."""
    path = config_record_path(output)
    atomic_write_bytes(path, lambda f: f.write(cfg.dump().encode()))
    logger.info("Config of %s written to %s", output, path)
    return path


def build_inference_model(cfg):
    """The cfg's model with MODEL.WEIGHTS loaded (strictly: every tensor must fit), in eval mode.
    MODEL.NUM_CLASSES = 0 is taken from the checkpoint's identity classifier, so no training
    dataset is needed (the classifiers are not used at inference, but they are part of the
    saved state)."""
    weights = cfg.MODEL.WEIGHTS
    if not weights:
        raise ConfigError("MODEL.WEIGHTS is empty: give the checkpoint to use, e.g. "
                          "MODEL.WEIGHTS output/model_final.pth")
    if cfg.MODEL.NUM_CLASSES == 0:
        state = ReidCheckpointer(torch.nn.Module())._load_file(weights)["model"]
        if "classifier.weight" not in state:
            raise ConfigError(f"MODEL.WEIGHTS={weights}: no 'classifier.weight' to size MODEL.NUM_CLASSES from; "
                           "set MODEL.NUM_CLASSES on the command line")
        was_frozen = cfg.is_frozen()
        cfg.defrost()
        cfg.MODEL.NUM_CLASSES = int(state["classifier.weight"].shape[0])
        if was_frozen:
            cfg.freeze()
        logger.info("MODEL.NUM_CLASSES set to %d from %s", cfg.MODEL.NUM_CLASSES, weights)
    model = build_model(cfg)
    ReidCheckpointer(model).load(weights, checkpointables=[])
    return model.eval()
