"""The iteration loop, its hooks, and one optimisation step."""
import abc
import logging
import time
import weakref
from contextlib import nullcontext
from typing import List

import torch

from ..data.shutdown import close_loader_iterator
from ..utils.events import EventStorage

logger = logging.getLogger(__name__)


class HookBase:
    """Called around training and around every step. A hook that keeps state across a
    restart (a scheduler, a best metric) returns it from state_dict(): it goes into the
    checkpoint and comes back through load_state_dict() on --resume."""

    trainer = None

    def before_train(self):
        pass

    def after_train(self):
        pass

    def before_step(self):
        pass

    def after_step(self):
        pass

    def state_dict(self):
        return {}

    def load_state_dict(self, state):
        pass


class TrainerBase(abc.ABC):
    def __init__(self):
        self._hooks: List[HookBase] = []
        self.iter = 0
        self.start_iter = 0
        self.iterations_done = 0
        self.max_iter = 0
        self.storage = None

    @property
    def hooks(self) -> tuple:
        """The registered hooks, in the order they run."""
        return tuple(self._hooks)

    def register_hooks(self, hooks):
        for h in hooks:
            if h is None:
                continue
            h.trainer = weakref.proxy(self)
            self._hooks.append(h)

    def train(self, start_iter: int, max_iter: int):
        """Run steps start_iter .. max_iter - 1 (`self.iter`, counted from 0 as the loop's index).
        What users see counts completed iterations: step `self.iter` is "iteration
        self.iter + 1" in the log, metrics.json (`storage.iter`), checkpoint names and
        evaluations; `iterations_done` is how many steps have finished."""
        self.iter = self.start_iter = self.iterations_done = start_iter
        self.max_iter = max_iter
        if start_iter < max_iter:
            logger.info(f"Starting training at iteration {start_iter + 1} of {max_iter}"
                        + (f" ({start_iter} already done)" if start_iter else ""))
        with EventStorage(start_iter) as self.storage:
            try:
                for h in self._hooks:
                    h.before_train()
                for self.iter in range(start_iter, max_iter):
                    self.storage.iter = self.iter + 1
                    for h in self._hooks:
                        h.before_step()
                    self.run_step()
                    self.iterations_done = self.iter + 1
                    for h in self._hooks:
                        h.after_step()
                self.iter = max_iter
            finally:
                for h in self._hooks:
                    h.after_train()

    @abc.abstractmethod
    def run_step(self):
        """One optimisation step at iteration self.iter."""

    def state_dict(self):
        hooks = {}
        for h in self._hooks:
            state = h.state_dict()
            if state:
                hooks[type(h).__qualname__] = state
        return {"iteration": self.iter, "hooks": hooks}

    def load_state_dict(self, state):
        self.iter = state["iteration"]
        for key, value in state.get("hooks", {}).items():
            matching = [h for h in self._hooks if type(h).__qualname__ == key]
            if not matching:
                logger.warning(f"Checkpoint holds state of hook '{key}', which this trainer does not have; ignored.")
            for h in matching:
                h.load_state_dict(value)


def amp_settings(cfg, device: torch.device):
    """(autocast dtype or None, whether a GradScaler is needed) for this device and config."""
    if device.type != "cuda" or not cfg.SOLVER.AMP.ENABLED:
        return None, False
    choice = cfg.SOLVER.AMP.DTYPE
    if choice == "auto":
        choice = "bf16" if torch.cuda.is_bf16_supported() else "fp16"
    if choice not in ("bf16", "fp16"):
        raise ValueError(f"SOLVER.AMP.DTYPE must be 'auto', 'bf16' or 'fp16', got {cfg.SOLVER.AMP.DTYPE!r}")
    return (torch.bfloat16, False) if choice == "bf16" else (torch.float16, True)


class SimpleTrainer(TrainerBase):
    """One step = next batch -> model(batch) -> loss dict -> (scaled) backward -> step.

    Before every step the global RNGs are re-seeded from (seed, iteration, rank), so any
    randomness drawn inside the model (mixers, dropout) is a pure function of the step:
    a resumed run repeats an uninterrupted one exactly without storing RNG streams.

    A step reads nothing back from the device: the loss terms go into the storage as tensors
    (the writers read them every LOG_PERIOD) and whether the loss is finite is checked every
    `check_period` steps (the default trainer passes SOLVER.LOG_PERIOD), at the end of training
    and before every checkpoint (`state_dict`), so that the first non-finite step is reported
    with its iteration and every loss term, and no checkpoint ever holds the weights it produced.
    The price: up to `check_period - 1` steps run after a non-finite one before training stops,
    and an evaluation in between sees those weights (the check before the checkpoint stops the
    run before they are saved).
    """

    def __init__(self, model, data_loader_fn, optimizer, *, seed: int, rank: int = 0, amp_dtype=None,
                 grad_scaler=None, clip_grad_norm: float = 0.0, epoch_of=lambda it: 0, check_period: int = 1):
        super().__init__()
        if check_period < 1:
            raise ValueError(f"check_period (SOLVER.LOG_PERIOD) must be >= 1, got {check_period}")
        self.check_period = check_period
        self._unchecked = []  # (iteration, total loss, loss terms) of the steps not yet checked, detached
        self.model = model
        self._data_loader_fn = data_loader_fn
        self._data_iter = None
        self.optimizer = optimizer
        self.seed = seed
        self.rank = rank
        self.amp_dtype = amp_dtype
        self.grad_scaler = grad_scaler
        self.clip_grad_norm = clip_grad_norm
        self.epoch_of = epoch_of

    def train(self, start_iter: int, max_iter: int):
        """Train, then shut the loader's workers down however training ended (done, an
        exception, KeyboardInterrupt): an endless loader is never exhausted, so nothing else
        would stop them before a garbage collection."""
        self._data_iter = iter(self._data_loader_fn(start_iter))
        try:
            super().train(start_iter, max_iter)
        finally:
            iterator, self._data_iter = self._data_iter, None
            close_loader_iterator(iterator)

    def step_seed(self, iteration: int) -> int:
        return (self.seed * 1_000_003 + iteration * 1_009 + self.rank) % (2**63 - 1)

    def run_step(self):
        self.model.train()
        start = time.perf_counter()
        batch = next(self._data_iter)
        data_time = time.perf_counter() - start
        batch["epoch"] = self.epoch_of(self.iter)
        batch["iteration"] = self.iter
        torch.manual_seed(self.step_seed(self.iter))

        device_type = "cuda" if self.amp_dtype is not None else "cpu"
        ctx = torch.autocast(device_type, dtype=self.amp_dtype) if self.amp_dtype is not None else nullcontext()
        with ctx:
            loss_dict = self.model(batch)
        if not loss_dict:
            raise RuntimeError("The model returned no loss terms; enable at least one loss "
                               "(MODEL.LOSSES.<node>.ENABLED True).")
        losses = sum(loss_dict.values())
        self._unchecked.append((self.iter, losses.detach(), {k: v.detach() for k, v in loss_dict.items()}))

        self.optimizer.zero_grad(set_to_none=True)
        if self.grad_scaler is not None:
            self.grad_scaler.scale(losses).backward()
            self.grad_scaler.unscale_(self.optimizer)
        else:
            losses.backward()
        if self.clip_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.clip_grad_norm)
        if self.grad_scaler is not None:
            self.grad_scaler.step(self.optimizer)
            self.grad_scaler.update()
        else:
            self.optimizer.step()

        self.storage.put_scalar("data_time", data_time)
        self.storage.put_scalar("total_loss", losses.detach())
        for name, value in loss_dict.items():
            self.storage.put_scalar(name, value.detach())
        if (self.iter + 1) % self.check_period == 0 or self.iter == self.max_iter - 1:
            self.check_finite()

    def check_finite(self):
        """Raise FloatingPointError if a step since the last check had a non-finite loss, naming
        the first such step and all its loss terms: one read-back for all those steps."""
        steps, self._unchecked = self._unchecked, []
        if not steps:
            return
        finite = torch.stack([torch.isfinite(total).all() for _, total, _ in steps]).tolist()
        if all(finite):
            return
        iteration, _, loss_dict = steps[finite.index(False)]
        terms = ", ".join(f"{k}={v.float().item():.6g}" for k, v in loss_dict.items())
        raise FloatingPointError(
            f"Loss became infinite or NaN at iteration {iteration + 1} (epoch {self.epoch_of(iteration)}): {terms}. "
            "Training stopped; the last checkpoint is intact (checkpoints are saved only after this check). "
            "Try a lower SOLVER.BASE_LR or SOLVER.CLIP_GRAD_NORM."
        )

    def state_dict(self):
        self.check_finite()  # a checkpoint never holds the weights of a non-finite step
        state = super().state_dict()
        if self.grad_scaler is not None:
            state["grad_scaler"] = self.grad_scaler.state_dict()
        return state

    def load_state_dict(self, state):
        super().load_state_dict(state)
        if self.grad_scaler is not None and "grad_scaler" in state:
            self.grad_scaler.load_state_dict(state["grad_scaler"])
