"""PCB-style fixed horizontal stripes: the part head without learned parameters."""
import torch
import torch.nn as nn

from ...config.configurable import ArgumentError, config_arguments, configurable
from .build import PART_HEAD_REGISTRY


@PART_HEAD_REGISTRY.register()
class Stripes(nn.Module):
    """M horizontal stripes (PCB, Sun et al. 2018): p_m is the mean of the feature map over
    stripe m, g the mean over the whole map. Stripe bounds follow adaptive pooling
    (rows floor(m*h/M) .. ceil((m+1)*h/M)), so any h >= M works; the part maps are the
    stripes' 0/1 indicators, returned so that visualisation treats both heads alike."""

    @configurable
    def __init__(self, *, num_parts: int = 6):
        """
        Args:
            num_parts: M, the number of stripes.
        """
        super().__init__()
        if num_parts < 1:
            raise ArgumentError("{num_parts}={value!r}: Stripes needs at least 1 stripe", value=num_parts)
        self.num_parts = num_parts

    @classmethod
    def from_config(cls, cfg, in_channels: int):
        """`in_channels` (what the registry passes every part head) does not matter to stripes."""
        return config_arguments(cfg, {"num_parts": "MODEL.PART_HEAD.NUM_PARTS"})

    def forward(self, features: torch.Tensor) -> dict:
        b, _, h, w = features.shape
        if h < self.num_parts:
            raise ValueError(
                f"Feature map height {h} is smaller than MODEL.PART_HEAD.NUM_PARTS={self.num_parts}: "
                "use a larger input or fewer stripes"
            )
        parts = stripe_means(features, self.num_parts)
        maps = features.new_zeros(b, self.num_parts, h, w)
        for m in range(self.num_parts):
            start, end = (m * h) // self.num_parts, -((-(m + 1) * h) // self.num_parts)
            maps[:, m, start:end] = 1.0
        return {
            "part_maps": maps,
            "part_descriptors": parts,
            "global_descriptor": features.mean(dim=(2, 3)),
        }


def stripe_means(features: torch.Tensor, num_parts: int) -> torch.Tensor:
    """(B, C, h, w) -> (B, M, C): the mean of each of M horizontal stripes, with the bounds of
    adaptive average pooling to (M, 1). Its value, in ops whose CUDA backward is deterministic
    (adaptive pooling's backward has none, so DETERMINISTIC would refuse it): a reshape and a
    mean when M divides h, else a product with the stripes' averaging weights."""
    b, c, h, w = features.shape
    if h % num_parts == 0:
        return features.reshape(b, c, num_parts, h // num_parts, w).mean(dim=(3, 4)).transpose(1, 2)
    weights = features.new_zeros(num_parts, h)
    for m in range(num_parts):
        start, end = (m * h) // num_parts, -((-(m + 1) * h) // num_parts)
        weights[m, start:end] = 1.0 / ((end - start) * w)
    return torch.einsum("bchw,mh->bmc", features, weights)
