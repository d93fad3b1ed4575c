"""Importing partreid.modeling registers every built-in backbone, part head, loss, mixer and
meta-architecture."""
from . import backbone, losses, meta_arch, mixers, part_heads
from .meta_arch import build_model
