from .base import MixedTargets, Mixer
from .build import MIXER_REGISTRY, build_mixer
from .cutmix import CutMix
from .manifold_mixup import ManifoldMixUp
from .mixup import MixUp
from .no_mix import NoMix
