from .build import PART_HEAD_REGISTRY, build_part_head
from .part_detector import PartDetector
from .stripes import Stripes
