"""PartMix (Kim et al., CVPR 2023) as a partreid project.

Importing this package registers the `PartMix` mixer, the `PartMixContrastiveLoss` /
`PartMixAuxIDLoss` losses, the `PartMixBaseline` meta-architecture (the part baseline with
PartMix's training diagnostics) and PartMix's lines of the recipe card; the engine calls `add_config(cfg)` for configs listing
PROJECTS: ["partmix"].
"""
from . import losses, meta_arch, mixer, recipe  # noqa: F401  (registration on import)
from .config import add_partmix_config

add_config = add_partmix_config

__all__ = ["add_config", "add_partmix_config"]
