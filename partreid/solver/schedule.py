"""The one place where epochs become iterations.

Configs speak in epochs (SOLVER.MAX_EPOCHS, SOLVER.STEPS, ...); the trainer, hooks and LR
schedule work in iterations. Every conversion goes through an EpochSchedule built once
from the data loader's iterations per epoch, and the result is logged, so a change in
the data or a library can never silently change the length of a run.
"""
import math
from dataclasses import dataclass


@dataclass(frozen=True)
class EpochSchedule:
    iters_per_epoch: int
    max_epochs: float

    def __post_init__(self):
        if self.iters_per_epoch < 1:
            raise ValueError(f"iterations per epoch must be >= 1, got {self.iters_per_epoch}")
        if self.max_epochs <= 0:
            raise ValueError(f"SOLVER.MAX_EPOCHS must be > 0, got {self.max_epochs}")

    @property
    def max_iter(self) -> int:
        return self.iters(self.max_epochs)

    def iters(self, epochs: float) -> int:
        """Number of iterations in `epochs` epochs (fractions allowed, rounded)."""
        return int(round(epochs * self.iters_per_epoch))

    def epoch_of(self, iteration: int) -> int:
        """0-based epoch that iteration `iteration` (0-based) belongs to."""
        return iteration // self.iters_per_epoch

    def period(self, epochs: float) -> int:
        """A period in iterations for a period in epochs; 0 stays 0 (= disabled)."""
        return 0 if epochs <= 0 else max(1, self.iters(epochs))

    def describe(self, images_per_batch: int) -> str:
        return (
            f"{self.iters_per_epoch} iterations/epoch x {self.max_epochs:g} epochs = {self.max_iter} iterations, "
            f"{images_per_batch} images/iteration, {self.max_iter * images_per_batch} images seen in total"
        )


def ceil_div(a: int, b: int) -> int:
    return int(math.ceil(a / b))
