"""MPANet's training sampler: every identity's images, in blocks of K/2 infrared + K/2
visible, used once per pass (MPANet's `RandomIdentitySampler`, data/sampler.py).

One pass, as MPANet builds it:
1. Per identity, with I its infrared and R its visible images (half = K/2):
   if both |I| < half and |R| < half, draw half of each with replacement (one block);
   otherwise draw min(|I|, |R|) of the larger modality without replacement, so both have as
   many. Shuffle both, pair them (infrared, visible, infrared, visible, ...) and cut the pairs
   into blocks of K images; a partial block is dropped.
2. While at least P identities have blocks left: draw P of them without replacement, each
   giving its next block (one global batch of P*K); an identity whose blocks run out leaves.
   Blocks left when fewer than P identities have any are not used in this pass.

An identity with no block (fewer than half images in one modality and at least half in the
other, or a modality missing) is skipped with a warning; MPANet's loop would fail on it
(`pop` from an empty block list) if it were drawn. The training stream is the passes one after
another. Pass q draws its image blocks from `default_rng([seed, q, 0])`, its identity order
from `default_rng([seed, q, 2])` and the augmentation seeds of its batch b from
`SeedSequence([seed, q, b, 1])`, so every batch is a function of (seed, iteration) and a
resumed or sharded run sees the batches an uninterrupted single-process run sees.

Where the epochs fall (DATALOADER.PASS_EPOCH; DATALOADER.ITERS_PER_EPOCH > 0 overrides both):
- "pass": an epoch is one pass, as under pytorch-ignite 0.2.1 (MPANet's README), whose
  engine runs the data loader to its end every epoch. Passes differ in length (the identity
  draws decide how many blocks are left over), so each epoch has its own length, computed up
  front from the seed (`epoch_lengths`); the schedule steps at the epochs' real boundaries.
- "length_estimate": every epoch is the sampler's length before its first pass, counted as
  MPANet's `__init__` does (per identity with infrared images, max(|I|, K) rounded down to a
  multiple of K, summed) divided by P*K. That is what later pytorch-ignite versions take as the
  epoch length (len(loader) at the start of the run); here the stream of passes runs on across
  epoch ends. MPANet's issue #11 traces a lower Rank-1 to that shorter training.
"""
import functools
import logging
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np

from ...config.configurable import configurable
from ..build import SAMPLER_REGISTRY
from ..common import SampleKey
from ..datasets.base import INFRARED, ReidItem
from .base import BatchStreamSampler

logger = logging.getLogger(__name__)

_BLOCK_STREAM = 0
_AUGMENTATION_STREAM = 1
_ORDER_STREAM = 2

PASS_EPOCHS = ("pass", "length_estimate")


def block_count(num_infrared: int, num_visible: int, num_instances: int) -> int:
    """Blocks of `num_instances` images an identity contributes to a pass (rule 1 above)."""
    half = num_instances // 2
    if num_infrared < half and num_visible < half:
        return 1
    return min(num_infrared, num_visible) // half


def pass_order(block_counts: Sequence[int], num_identities: int, rng: np.random.Generator) -> np.ndarray:
    """Rule 2: the identity positions (into `block_counts`) of every batch of one pass, shape
    (batches, num_identities), in draw order."""
    left = np.asarray(block_counts, dtype=np.int64).copy()
    available = [i for i in range(len(left)) if left[i] > 0]
    batches = []
    while len(available) >= num_identities:
        chosen = rng.choice(len(available), size=num_identities, replace=False)
        positions = [available[c] for c in chosen]
        batches.append(positions)
        left[positions] -= 1
        if (left[positions] == 0).any():
            available = [i for i in available if left[i] > 0]
    return np.asarray(batches, dtype=np.int64).reshape(-1, num_identities)


def length_estimate(infrared_counts: Sequence[int], num_identities: int, num_instances: int) -> int:
    """Iterations per epoch under pytorch-ignite >= 0.4: MPANet's initial sampler length (images)
    over the batch size, rounded down (its loader drops the last partial batch)."""
    images = sum(max(n, num_instances) - max(n, num_instances) % num_instances for n in infrared_counts if n > 0)
    return images // (num_identities * num_instances)


@functools.lru_cache(maxsize=65536)
def _pass_length(block_counts: Tuple[int, ...], num_identities: int, seed: int, pass_index: int) -> int:
    return len(pass_order(block_counts, num_identities, np.random.default_rng([seed, pass_index, _ORDER_STREAM])))


@SAMPLER_REGISTRY.register()
class CrossModalityPassSampler(BatchStreamSampler):
    """MPANet's identity sampler: P identities x (K/2 infrared + K/2 visible, interleaved) per
    batch, each identity's image blocks used once per pass (see the module docstring)."""

    @configurable
    def __init__(self, items: Sequence[ReidItem], num_identities: int, num_instances: int, *args, **kwargs):
        """BatchStreamSampler's arguments; `num_instances` must be even. `iters_per_epoch` does
        not shape the stream (the passes do); it is checked like every sampler's."""
        if num_instances % 2:
            raise ValueError(
                f"DATALOADER.NUM_INSTANCES must be even for CrossModalityPassSampler (K/2 per modality), "
                f"got {num_instances}"
            )
        super().__init__(items, num_identities, num_instances, *args, **kwargs)
        self._pass_starts = [0]
        self._cached_pass: Tuple[int, List[List[SampleKey]]] = (-1, [])

    @staticmethod
    def _by_identity(items: Sequence[ReidItem]) -> Dict[int, Tuple[List[int], List[int]]]:
        """{pid: (infrared item indices, visible item indices)} in item order."""
        groups: Dict[int, Tuple[List[int], List[int]]] = {}
        for index, item in enumerate(items):
            infrared, visible = groups.setdefault(item.pid, ([], []))
            (infrared if item.modality == INFRARED else visible).append(index)
        return groups

    @classmethod
    def _block_counts(cls, items: Sequence[ReidItem], num_instances: int) -> Dict[int, int]:
        return {
            pid: block_count(len(ir), len(vis), num_instances) if ir and vis else 0
            for pid, (ir, vis) in sorted(cls._by_identity(items).items())
        }

    def _usable_identities(self, items: Sequence[ReidItem]) -> List[int]:
        self.by_pid = self._by_identity(items)
        counts = self._block_counts(items, self.num_instances)
        usable = [pid for pid, n in counts.items() if n > 0]
        skipped = sorted(set(counts) - set(usable))
        if skipped:
            logger.warning(
                "CrossModalityPassSampler skips %d identities with no block of %d/2 infrared + %d/2 visible images "
                "(a modality missing, or fewer than %d images in one modality and more in the other), e.g. %s",
                len(skipped), self.num_instances, self.num_instances, self.num_instances // 2, skipped[:10],
            )
        self.block_counts = np.asarray([counts[pid] for pid in usable], dtype=np.int64)
        return usable

    @classmethod
    def epoch_lengths(cls, cfg, items: Sequence[ReidItem], num_epochs: int) -> Optional[List[int]]:
        """DATALOADER.PASS_EPOCH "pass": the length of passes 0..num_epochs-1; "length_estimate":
        MPANet's estimate for every epoch."""
        mode = cfg.DATALOADER.PASS_EPOCH
        if mode not in PASS_EPOCHS:
            raise ValueError(f"DATALOADER.PASS_EPOCH must be one of {PASS_EPOCHS}, got {mode!r}")
        num_identities, num_instances = cfg.DATALOADER.NUM_IDENTITIES, cfg.DATALOADER.NUM_INSTANCES
        if mode == "length_estimate":
            infrared = [len(ir) for ir, _ in cls._by_identity(items).values()]
            estimate = length_estimate(infrared, num_identities, num_instances)
            if estimate < 1:
                raise ValueError(f"MPANet's length estimate gives no full batch of {num_identities}x{num_instances} "
                                 f"on {len(items)} training images; set DATALOADER.ITERS_PER_EPOCH")
            return [estimate] * num_epochs
        if cfg.SEED < 0:
            raise ValueError("CrossModalityPassSampler sizes its epochs from SEED, which is drawn at run time when "
                             f"negative (SEED={cfg.SEED}); set SEED >= 0 to size them before training")
        counts = [n for n in cls._block_counts(items, num_instances).values() if n > 0]
        lengths = [cls.pass_length(counts, num_identities, cfg.SEED, q) for q in range(num_epochs)]
        if min(lengths, default=0) < 1:
            raise ValueError(f"A pass of CrossModalityPassSampler holds no batch of DATALOADER.NUM_IDENTITIES="
                             f"{num_identities} identities ({len(counts)} identities have blocks)")
        return lengths

    @staticmethod
    def pass_length(block_counts: Sequence[int], num_identities: int, seed: int, pass_index: int) -> int:
        """Batches in pass `pass_index`: it depends on the identity draws only. Remembered, since
        the trainer, every loader and the recipe card ask for the same passes."""
        return _pass_length(tuple(int(n) for n in block_counts), int(num_identities), int(seed), int(pass_index))

    def _blocks(self, pid: int, rng: np.random.Generator) -> List[List[int]]:
        """Rule 1 for one identity: its blocks of K item indices, infrared and visible in turn."""
        half = self.num_instances // 2
        infrared, visible = (np.asarray(v) for v in self.by_pid[pid])
        if len(infrared) < half and len(visible) < half:
            infrared = rng.choice(infrared, size=half, replace=True)
            visible = rng.choice(visible, size=half, replace=True)
        elif len(infrared) > len(visible):
            infrared = rng.choice(infrared, size=len(visible), replace=False)
        elif len(visible) > len(infrared):
            visible = rng.choice(visible, size=len(infrared), replace=False)
        infrared, visible = rng.permutation(infrared), rng.permutation(visible)
        pairs = len(infrared) // half * half
        interleaved = np.stack([infrared[:pairs], visible[:pairs]], axis=1).reshape(-1)
        return interleaved.reshape(-1, self.num_instances).tolist()

    def pass_batches(self, pass_index: int) -> List[List[int]]:
        """The item indices of every global batch of pass `pass_index`."""
        block_rng = np.random.default_rng([self.seed, pass_index, _BLOCK_STREAM])
        blocks = [self._blocks(pid, block_rng) for pid in self.pids]
        order = pass_order(self.block_counts, self.num_identities,
                           np.random.default_rng([self.seed, pass_index, _ORDER_STREAM]))
        used = [0] * len(self.pids)
        batches = []
        for positions in order.tolist():
            batch = []
            for p in positions:
                batch += blocks[p][used[p]]
                used[p] += 1
            batches.append(batch)
        return batches

    def _pass_keys(self, pass_index: int) -> List[List[SampleKey]]:
        if self._cached_pass[0] != pass_index:
            keys = []
            for b, batch in enumerate(self.pass_batches(pass_index)):
                seeds = np.random.SeedSequence([self.seed, pass_index, b, _AUGMENTATION_STREAM]).generate_state(len(batch))
                keys.append([SampleKey(int(i), int(s)) for i, s in zip(batch, seeds)])
            self._cached_pass = (pass_index, keys)
        return self._cached_pass[1]

    def position(self, iteration: int) -> Tuple[int, int]:
        """(pass, batch within the pass) of `iteration` in the stream of passes."""
        while self._pass_starts[-1] <= iteration:
            q = len(self._pass_starts) - 1
            length = self.pass_length(self.block_counts, self.num_identities, self.seed, q)
            if length < 1:
                raise ValueError(f"A pass of CrossModalityPassSampler holds no batch of DATALOADER.NUM_IDENTITIES="
                                 f"{self.num_identities} identities ({len(self.pids)} identities have blocks)")
            self._pass_starts.append(self._pass_starts[-1] + length)
        q = int(np.searchsorted(self._pass_starts, iteration, side="right")) - 1
        return q, iteration - self._pass_starts[q]

    def global_keys_at(self, iteration: int) -> List[SampleKey]:
        pass_index, batch = self.position(iteration)
        return self._pass_keys(pass_index)[batch]
