"""The one place where epochs become iterations.

Configs speak in epochs (SOLVER.MAX_EPOCHS, SOLVER.STEPS, ...); the trainer, hooks and LR
schedule work in iterations. Every conversion goes through an EpochSchedule built once
from the training sampler's epochs, and the result is logged, so a change in the data or a
library can never silently change the length of a run.

Most samplers make every epoch equally long. A sampler whose epoch is one pass over its data
(CrossModalityPassSampler) gives each epoch its own length; the schedule then holds the
length of every epoch, so that an LR step "at epoch 80" falls on the first iteration of
epoch 80 exactly as an epoch-stepped scheduler would put it.
"""
import bisect
import itertools
import math
from dataclasses import dataclass, field
from typing import Sequence, Tuple


@dataclass(frozen=True)
class EpochSchedule:
    """`iters_per_epoch`: the length of every epoch, or, when `epoch_lengths` is given, the
    nominal (mean, rounded) one used for periods (evaluation, checkpoints) and for epochs past
    the listed ones. `epoch_lengths[e]`: the length of epoch e."""

    iters_per_epoch: int
    max_epochs: float
    epoch_lengths: Tuple[int, ...] = ()
    _starts: Tuple[int, ...] = field(init=False, repr=False, compare=False)

    def __post_init__(self):
        if self.iters_per_epoch < 1:
            raise ValueError(f"iterations per epoch must be >= 1, got {self.iters_per_epoch}")
        if self.max_epochs <= 0:
            raise ValueError(f"SOLVER.MAX_EPOCHS must be > 0, got {self.max_epochs}")
        lengths = tuple(int(n) for n in self.epoch_lengths)
        if any(n < 1 for n in lengths):
            raise ValueError(f"every epoch needs >= 1 iteration, got lengths {list(lengths)}")
        if lengths and len(lengths) < math.ceil(self.max_epochs):
            raise ValueError(f"{len(lengths)} epoch lengths given for SOLVER.MAX_EPOCHS={self.max_epochs:g}")
        object.__setattr__(self, "epoch_lengths", lengths)
        object.__setattr__(self, "_starts", tuple(itertools.accumulate(lengths, initial=0)))

    @classmethod
    def from_epoch_lengths(cls, lengths: Sequence[int], max_epochs: float) -> "EpochSchedule":
        """A schedule whose epoch e lasts `lengths[e]` iterations (a constant-length schedule
        when they are all equal)."""
        if not lengths:
            raise ValueError("from_epoch_lengths needs at least one epoch length")
        if len(set(lengths)) == 1:
            return cls(int(lengths[0]), max_epochs)
        nominal = max(1, int(round(sum(lengths) / len(lengths))))
        return cls(nominal, max_epochs, tuple(lengths))

    @property
    def varies(self) -> bool:
        """Whether the epochs have lengths of their own."""
        return bool(self.epoch_lengths)

    @property
    def max_iter(self) -> int:
        return self.iters(self.max_epochs)

    def iters(self, epochs: float) -> int:
        """Number of iterations in the first `epochs` epochs (fractions allowed: that share of
        the next epoch, rounded)."""
        if not self.varies:
            return int(round(epochs * self.iters_per_epoch))
        whole = int(math.floor(epochs))
        listed = len(self.epoch_lengths)
        if whole >= listed:
            return self._starts[-1] + int(round((epochs - listed) * self.iters_per_epoch))
        return self._starts[whole] + int(round((epochs - whole) * self.epoch_lengths[whole]))

    def epoch_of(self, iteration: int) -> int:
        """0-based epoch that iteration `iteration` (0-based) belongs to."""
        if not self.varies:
            return iteration // self.iters_per_epoch
        if iteration >= self._starts[-1]:
            return len(self.epoch_lengths) + (iteration - self._starts[-1]) // self.iters_per_epoch
        return bisect.bisect_right(self._starts, iteration) - 1

    def period(self, epochs: float) -> int:
        """A period in iterations for a period in epochs; 0 stays 0 (= disabled). With epochs of
        their own lengths, the nominal epoch length sets the period."""
        return 0 if epochs <= 0 else max(1, int(round(epochs * self.iters_per_epoch)))

    def describe(self, images_per_batch: int) -> str:
        if self.varies:
            shown = self.epoch_lengths[: math.ceil(self.max_epochs)]
            per_epoch = f"{min(shown)}-{max(shown)} (mean {self.iters_per_epoch}) iterations/epoch, one sampler pass each,"
        else:
            per_epoch = f"{self.iters_per_epoch} iterations/epoch x"
        return (
            f"{per_epoch} {self.max_epochs:g} epochs = {self.max_iter} iterations, "
            f"{images_per_batch} images/iteration, {self.max_iter * images_per_batch} images seen in total"
        )


def ceil_div(a: int, b: int) -> int:
    return int(math.ceil(a / b))
