"""Owns the LOSS registry and turns the config's per-loss nodes into the model's loss list.

Each registered loss class names its node under MODEL.LOSSES in a `CONFIG_NODE` attribute
(IdentityLoss: "ID"). That node holds the loss's ENABLED switch, its WEIGHT and its other settings,
so adding, removing or re-weighting a loss is one override (MODEL.LOSSES.TRIPLET.ENABLED True).
The model's losses are the enabled nodes in the order they are declared: the core's, in
partreid/config/defaults.py, then each project's, in the order of the config's PROJECTS. The
trainer sums the terms in that order, so the declarations fix it and a YAML cannot change it.
"""
from typing import List

from fvcore.common.registry import Registry

from ...utils.errors import ConfigError

LOSS_REGISTRY = Registry("LOSS")
LOSS_REGISTRY.__doc__ = """
Losses: `cls(cfg)` objects called as `loss(outputs, batch) -> {term_name: weighted scalar}`.
A class names its node under MODEL.LOSSES in `CONFIG_NODE`; `ACTIVE_WITH_MIXER = True` says that it
only produces a term on the batches the mixer acts on.
"""


def loss_nodes(cfg) -> List[str]:
    """The node names under MODEL.LOSSES that configure a loss, in declaration order."""
    return [key for key, value in cfg.MODEL.LOSSES.items() if isinstance(value, dict)]


def loss_name_for_node(node: str) -> str:
    """The registered loss class whose CONFIG_NODE is `node`; an error naming the node otherwise."""
    names = [name for name, cls in LOSS_REGISTRY if getattr(cls, "CONFIG_NODE", None) == node]
    if len(names) != 1:
        found = "none does" if not names else f"{', '.join(sorted(names))} all do"
        raise ConfigError(
            f"MODEL.LOSSES.{node}.ENABLED is True, but exactly one registered loss must declare "
            f"CONFIG_NODE = '{node}' and {found}. If the loss lives in a project, list the project in PROJECTS."
        )
    return names[0]


def enabled_loss_names(cfg) -> List[str]:
    """The registered names of the enabled losses, in the order their terms are summed."""
    names = []
    for node in loss_nodes(cfg):
        settings = cfg.MODEL.LOSSES[node]
        if "ENABLED" not in settings:
            raise ConfigError(f"MODEL.LOSSES.{node} has no ENABLED key: every loss node needs one (True or False)")
        if settings.ENABLED:
            names.append(loss_name_for_node(node))
    return names


def enable_losses(cfg, names) -> None:
    """Switch on exactly the registered losses `names` in an unfrozen `cfg` and every other loss
    node off (for code that builds a config; YAMLs set MODEL.LOSSES.<node>.ENABLED). Their terms are
    still summed in the nodes' declared order, whatever the order of `names`."""
    node_of = {}
    for name in names:
        node = getattr(LOSS_REGISTRY.get(name), "CONFIG_NODE", None) if name in LOSS_REGISTRY else None
        if node not in cfg.MODEL.LOSSES:
            raise ConfigError(f"Loss '{name}' is no registered loss with a node under MODEL.LOSSES "
                              f"(nodes: {', '.join(loss_nodes(cfg))}); list the project that adds it in PROJECTS")
        node_of[name] = node
    for node in loss_nodes(cfg):
        cfg.MODEL.LOSSES[node].ENABLED = node in node_of.values()


def build_losses(cfg):
    return [LOSS_REGISTRY.get(name)(cfg) for name in enabled_loss_names(cfg)]
