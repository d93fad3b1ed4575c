"""L_part_id: each part descriptor must name the identity on its own (deep supervision per part)."""
import torch

from partreid.modeling.losses import LOSS_REGISTRY
from partreid.modeling.losses.common import WeightedLoss, mixed_cross_entropy


@LOSS_REGISTRY.register()
class PartIdentityLoss(WeightedLoss):
    """Mean over the M part slots of the identity cross-entropy of that slot's own logits,
    outputs["part_logits"] (N, M, K): part m's contribution to the shared classifier C, W_m p_m
    on the BN-necked descriptor. No new parameters: it asks the slices of C that PartMix's
    mining already reads to be identity-discriminative one by one.

    Why: with one classifier on the concatenated [p_1..p_M, g], the global slot alone fits the
    identities, so nothing asks a part map to lie on anything; maps drift to the background or
    fade out (projects/PartDiscovery/README.md). Scored per slot, a map placed on the background
    gives a descriptor that cannot name anyone, and the separation term then spreads the M maps
    over different identity-bearing regions. Not in MPANet's objective."""

    CONFIG_NODE = "PART_ID"  # its settings: MODEL.LOSSES.PART_ID
    REQUIRED_OUTPUTS = ("part_logits",)  # it returns no term without them

    def forward(self, outputs: dict, batch: dict) -> dict:
        part_logits = outputs.get("part_logits")
        if part_logits is None or part_logits.shape[1] == 0:
            return {}
        per_part = torch.stack(
            [mixed_cross_entropy(part_logits[:, m], outputs) for m in range(part_logits.shape[1])], dim=1
        )
        return {"loss_part_id": self.weight * per_part.mean()}
