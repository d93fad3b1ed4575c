"""A minimal project module: importing it registers its components; `add_config` adds its keys.

A config opts in with `PROJECTS: ["toy_project"]`; the module must be installed and declared a
partreid project, which new_project.md does by making it the package
`projects/Toy/toy_project/__init__.py`, declaring it in the "partreid.projects" entry-point group
of its pyproject.toml and installing it with `pip install -e projects/Toy`. The core never
imports a project."""
import torch

from partreid.config import config_arguments, configurable
from partreid.config.config import CfgNode as CN
from partreid.modeling.losses.build import LOSS_REGISTRY


def add_config(cfg):
    """Called by setup_cfg before the YAML is merged, so the YAML may set these keys."""
    # The toy loss's node (the mean absolute logit, a stand-in for a method's own term): off until
    # a config enables it, like every project loss; its terms are summed after the core's.
    cfg.MODEL.LOSSES.TOY = CN()
    cfg.MODEL.LOSSES.TOY.ENABLED = False
    cfg.MODEL.LOSSES.TOY.WEIGHT = 0.1


@LOSS_REGISTRY.register()
class ToyLogitLoss:
    CONFIG_NODE = "TOY"  # its settings: MODEL.LOSSES.TOY
    REQUIRED_OUTPUTS = ("logits",)  # it returns no term without them

    @configurable
    def __init__(self, *, weight: float = 0.1):
        self.weight = weight

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {"weight": "MODEL.LOSSES.TOY.WEIGHT"})

    def __call__(self, outputs: dict, batch: dict) -> dict:
        if outputs.get("logits") is None:
            return {}
        return {"loss_toy": self.weight * outputs["logits"].abs().mean()}


def demo_batch(num_classes: int = 3):
    return {"logits": torch.ones(2, num_classes)}
