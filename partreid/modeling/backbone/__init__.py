from .build import BACKBONE_REGISTRY, build_backbone
from .resnet import ModalityAlleviation, ResNet
