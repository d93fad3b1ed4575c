"""Part discovery without part labels (SynthVI) as a partreid project.

Importing this package registers the `PartDiscoveryHead` part head, the `PartIdentityLoss` /
`PartConcentrationLoss` losses and its line of the recipe card; the engine calls
`add_config(cfg)` for configs listing PROJECTS: ["partdiscovery"].
"""
from . import head, part_concentration, part_identity, recipe  # noqa: F401  (registration on import)
from .config import add_partdiscovery_config

add_config = add_partdiscovery_config

__all__ = ["add_config", "add_partdiscovery_config"]
