"""Registered training samplers (one file each); importing the package registers them."""
from .base import IdentityBatchSampler
from .cross_modality import CrossModalitySampler
from .identity import IdentitySampler

__all__ = ["IdentityBatchSampler", "CrossModalitySampler", "IdentitySampler"]
