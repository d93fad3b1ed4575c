from .build import LOSS_REGISTRY, build_losses, enable_losses, enabled_loss_names
from .center_cluster import CenterClusterLoss
from .identity import IdentityLoss
from .modality_learning import ModalityLearningLoss
from .modality_specific_id import ModalitySpecificIDLoss
from .part_separation import PartSeparationLoss
from .triplet import TripletLoss
