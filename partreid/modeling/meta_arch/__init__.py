from .build import META_ARCH_REGISTRY, build_model
from .part_baseline import PartBaseline
