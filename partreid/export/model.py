"""Build a trained model for inference outside the training engine."""
import logging

import torch

from .. import modeling  # noqa: F401  (registers the built-in components)
from ..checkpoint import ReidCheckpointer
from ..modeling.meta_arch.build import build_model

logger = logging.getLogger(__name__)


def build_inference_model(cfg):
    """The cfg's model with MODEL.WEIGHTS loaded, in eval mode. MODEL.NUM_CLASSES = 0 is taken
    from the checkpoint's identity classifier, so no training dataset is needed (the classifiers
    are not used at inference, but they are part of the saved state)."""
    weights = cfg.MODEL.WEIGHTS
    if not weights:
        raise ValueError("MODEL.WEIGHTS is empty: give the checkpoint to use, e.g. MODEL.WEIGHTS output/model_final.pth")
    if cfg.MODEL.NUM_CLASSES == 0:
        state = ReidCheckpointer(torch.nn.Module())._load_file(weights)["model"]
        if "classifier.weight" not in state:
            raise KeyError(f"MODEL.WEIGHTS={weights}: no 'classifier.weight' to size MODEL.NUM_CLASSES from; "
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
