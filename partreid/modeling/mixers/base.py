"""The interface between a meta-architecture and a training-time mixer.

A mixer may act at three depths of the forward pass; each method defaults to "do nothing"
so that an implementation overrides only the depth it works at:

* `mix_images`      - on the normalised input batch (MixUp, CutMix);
* `mix_hidden`      - on a backbone stage's output (Manifold MixUp), the stage chosen by
                      `hidden_stage()` once per batch;
* `mix_descriptors` - on the part/global descriptors after the part head (part-level mixing).

Label mixing is described by a `MixedTargets` placed in `outputs["mixed_targets"]`, which the
identity losses read. The meta-architecture only calls a mixer in training mode and from
MODEL.MIXER.START_EPOCH on.

Every random draw of a mixer comes from `self.generator`, a CPU torch.Generator reseeded from
(seed, iteration, rank) each step: a run with a fixed SEED mixes the same way every time, a
resumed run as an uninterrupted one, and data-parallel ranks draw different pairs.
"""
from dataclasses import dataclass
from typing import Optional

import torch
from scipy.special import betaincinv

from ...config.configurable import ArgumentError, config_arguments, configurable
from ...utils import comm


@dataclass
class MixedTargets:
    """Sample i of the mixed batch carries `lam[i]` of identity `targets_a[i]` and
    `1 - lam[i]` of `targets_b[i]`."""

    targets_a: torch.Tensor
    targets_b: torch.Tensor
    lam: torch.Tensor

    def dominant(self) -> torch.Tensor:
        """The identity carrying the larger share of each sample (`targets_a` on a tie): the
        hard label used by losses that cannot take soft labels (centres, triplets)."""
        return torch.where(self.lam >= 0.5, self.targets_a, self.targets_b)


def _stream_seed(seed: int, iteration: int, rank: int) -> int:
    return (seed * 1_000_003 + iteration * 1_009 + rank) % (2**63 - 1)


class Mixer:
    @configurable
    def __init__(self, *, seed: Optional[int] = None):
        """
        Args:
            seed: the seed of the mixer's random stream (the config's SEED); None takes torch's
                initial seed, which the engine has already drawn and logged when SEED < 0.
        """
        self.seed = torch.initial_seed() if seed is None else seed
        self._generator = torch.Generator()
        self.reseed(0)

    @classmethod
    def from_config(cls, cfg):
        return config_arguments(cfg, {}, seed=cfg.SEED if cfg.SEED >= 0 else None)

    def reseed(self, iteration: int) -> None:
        """Restart the random stream from (SEED, iteration, rank); the meta-architecture calls it
        every training step, so a resumed run mixes exactly as an uninterrupted one. The
        generator is seeded when `generator` is first read after this: a mixer that draws
        nothing in a step (NoMix, a project mixer's mining step) never touches it, which keeps the
        step free of the graph break torch.compile makes at a generator call."""
        self._iteration = iteration
        self._seeded = False

    @property
    def generator(self) -> torch.Generator:
        """The CPU generator every random draw of the mixer comes from, at the start of the
        stream of the iteration last given to `reseed` (or further along it)."""
        if not self._seeded:
            self._generator.manual_seed(_stream_seed(self.seed, self._iteration, comm.get_rank()))
            self._seeded = True
        return self._generator

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


def beta_alpha(alpha: float) -> float:
    """`alpha` (MODEL.MIXER.ALPHA), checked: the parameter of the symmetric Beta the mixing ratio
    follows."""
    if not alpha > 0:
        raise ArgumentError("{alpha}={value!r}: the Beta parameter must be > 0", value=alpha)
    return float(alpha)


class BetaMixer(Mixer):
    """A mixer whose mixing ratio follows Beta(alpha, alpha) (MixUp, CutMix): the constructor and
    config mapping they share."""

    @configurable
    def __init__(self, *, alpha: float = 1.0, seed: Optional[int] = None):
        """
        Args:
            alpha: the parameter of the Beta(alpha, alpha) the mixing ratio follows.
            seed: see Mixer.
        """
        super().__init__(seed=seed)
        self.alpha = beta_alpha(alpha)

    @classmethod
    def from_config(cls, cfg):
        arguments = super().from_config(cfg)
        arguments.update(config_arguments(cfg, {"alpha": "MODEL.MIXER.ALPHA"}))
        return arguments


def draw_beta(alpha: float, generator: torch.Generator) -> float:
    """lam ~ Beta(alpha, alpha) by inverting the CDF of a uniform draw, so that the draw comes
    from `generator` (torch's Beta sampler cannot take one)."""
    u = torch.rand((), generator=generator, dtype=torch.float64).item()
    return float(betaincinv(alpha, alpha, u))


def interpolate_with_partners(x: torch.Tensor, batch: dict, alpha: float, generator: torch.Generator):
    """MixUp on any batch-first tensor: x~ = lam x + (1-lam) x[perm] with one lam per batch and
    partners from a random permutation, whatever their modality (supplementary eq. 5/6)."""
    lam = draw_beta(alpha, generator)
    perm = torch.randperm(x.shape[0], generator=generator).to(x.device)
    targets = batch["targets"].to(x.device)
    mixed = lam * x + (1.0 - lam) * x[perm]
    lam_per_sample = torch.full((x.shape[0],), lam, dtype=torch.float32, device=x.device)
    return mixed, MixedTargets(targets, targets[perm], lam_per_sample)
