"""The identity mixer: the plain baseline."""
from .base import Mixer
from .build import MIXER_REGISTRY


@MIXER_REGISTRY.register()
class NoMix(Mixer):
    """Leaves images, hidden features and descriptors untouched (every hook keeps its default)."""
