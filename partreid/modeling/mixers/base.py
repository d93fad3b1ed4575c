"""The interface between a meta-architecture and a training-time mixer.

A mixer may act at three depths of the forward pass; each method defaults to "do nothing"
so that an implementation overrides only the depth it works at:

* `mix_images`      - on the normalised input batch (MixUp, CutMix);
* `mix_hidden`      - on a backbone stage's output (Manifold MixUp), the stage chosen by
                      `hidden_stage()` once per batch;
* `mix_descriptors` - on the part/global descriptors after the part head (PartMix).

Label mixing is described by a `MixedTargets` placed in `outputs["mixed_targets"]`, which the
identity losses read. The meta-architecture only calls a mixer in training mode and from
MODEL.MIXER.START_EPOCH on.
"""
from dataclasses import dataclass
from typing import Optional

import torch


@dataclass
class MixedTargets:
    """Sample i of the mixed batch carries `lam[i]` of identity `targets_a[i]` and
    `1 - lam[i]` of `targets_b[i]`."""

    targets_a: torch.Tensor
    targets_b: torch.Tensor
    lam: torch.Tensor


class Mixer:
    def __init__(self, cfg=None):
        self.cfg = cfg

    def mix_images(self, images: torch.Tensor, batch: dict):
        """Return (images, MixedTargets or None)."""
        return images, None

    def hidden_stage(self) -> Optional[int]:
        """The backbone stage after which `mix_hidden` runs for this batch (None: no hidden mix)."""
        return None

    def mix_hidden(self, features: torch.Tensor, batch: dict):
        """Return (features, MixedTargets or None)."""
        return features, None

    def mix_descriptors(self, outputs: dict, batch: dict, model) -> dict:
        """Return extra entries for `outputs` (read by the mixer's own losses)."""
        return {}
