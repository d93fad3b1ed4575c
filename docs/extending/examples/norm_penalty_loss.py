"""A registered loss with its own config key: a penalty on the squared norm of the descriptors."""
import torch

from partreid.config import config_arguments, configurable, get_cfg
from partreid.config.config import CfgNode as CN
from partreid.modeling.losses.build import LOSS_REGISTRY, build_losses


def add_norm_penalty_config(cfg):
    """The loss's keys; a project calls this from its add_config (see new_project.md)."""
    cfg.MODEL.LOSSES.NORM = CN()
    # Off until a config enables it (MODEL.LOSSES.NORM.ENABLED True).
    cfg.MODEL.LOSSES.NORM.ENABLED = False
    # Weight of the mean squared L2 norm of the pre-BN person descriptors.
    cfg.MODEL.LOSSES.NORM.WEIGHT = 0.01


@LOSS_REGISTRY.register()
class DescriptorNormPenalty:
    """Keeps descriptor norms small; returns {} when the model gives no descriptors, as every
    loss must, so that it can be listed for any meta-architecture. Built by the registry as
    `DescriptorNormPenalty(cfg)` (through from_config), or as `DescriptorNormPenalty(weight=0.01)`."""

    CONFIG_NODE = "NORM"  # its settings, ENABLED and WEIGHT: MODEL.LOSSES.NORM
    REQUIRED_OUTPUTS = ("descriptors",)  # named by the error if it returns no term where it should act

    @configurable
    def __init__(self, *, weight: float = 0.01):
        self.weight = weight

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": "MODEL.LOSSES.NORM.WEIGHT"})

    def __call__(self, outputs: dict, batch: dict) -> dict:
        descriptors = outputs.get("descriptors")
        if descriptors is None:
            return {}
        return {"loss_norm": self.weight * descriptors.float().pow(2).sum(1).mean()}


def demo():
    cfg = get_cfg()
    add_norm_penalty_config(cfg)
    cfg.merge_from_list(["MODEL.LOSSES.NORM.ENABLED", "True"])  # the one override that adds it
    loss = build_losses(cfg)[-1]  # after the core's losses, in the order the nodes are declared
    assert loss.weight == DescriptorNormPenalty(weight=0.01).weight  # the same loss without a config
    return loss({"descriptors": torch.ones(2, 4)}, {}), loss({}, {})
