"""Registered training samplers (one file each); importing the package registers them."""
from .base import BatchStreamSampler, IdentityBatchSampler
from .cross_modality import CrossModalitySampler
from .cross_modality_pass import CrossModalityPassSampler
from .identity import IdentitySampler

__all__ = ["BatchStreamSampler", "IdentityBatchSampler", "CrossModalitySampler", "CrossModalityPassSampler", "IdentitySampler"]
