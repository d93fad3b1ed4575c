from .build import LOSS_REGISTRY, build_losses
from .center_cluster import CenterClusterLoss
from .identity import IdentityLoss
from .modality_learning import ModalityLearningLoss
from .modality_specific_id import ModalitySpecificIDLoss
from .part_concentration import PartConcentrationLoss
from .part_equivariance import PartEquivarianceLoss
from .part_homogeneity import PartHomogeneityLoss
from .part_identity import PartIdentityLoss
from .part_separation import PartSeparationLoss
from .triplet import TripletLoss
