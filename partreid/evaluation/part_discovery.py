"""Part discovery measured against ground truth: do the learned part maps find body parts?

A part-based model is only part-based if its M maps are alive, lie on distinct body parts and
lie there more than a map spread over the whole image would. Where the test set knows its body
parts (SynthVI draws every person from a label map), `PartDiscoveryEvaluator` scores the maps
at every evaluation, beside the protocol's evaluator; `part_discovery_metrics` is the pure
computation behind it.

Definitions (A_im: map m of image i at feature resolution, activations >= 0; F_ip: the
fraction of each feature cell covered by ground-truth part p, from area-pooling the one-hot
mask, so that a cell on a part boundary counts for both parts; part 0 is the background):
- alive_images(m): the share of images on which the mean activation of A_im exceeds
  TEST.PART_DISCOVERY.ALIVE_THRESHOLD; the map is alive when that share is at least
  TEST.PART_DISCOVERY.ALIVE_MIN_FRACTION.
- share(m, p) = sum_i <A_im, F_ip> / sum_i sum A_im: the fraction of the map's activation mass,
  pooled over the test set, that falls on part p (background included; shares sum to 1; all
  zero for a map with no mass).
- matched part and purity: the body part (background excluded) with the largest share, and that
  share (none and 0 for a map with no mass on any body part).
- uniform map: a constant map's share of each part is the part's area share, so the purity a
  uniform map gets is the area share of the largest body part. A map is a part detector only
  if its purity is well above that baseline.
- coverage: how many distinct body parts are the matched part of some alive map.
- overlap: the mean over pairs of maps of their soft IoU sum_i sum min(A_im, A_in) /
  sum_i sum max(A_im, A_in): 1 for identical maps, 0 for disjoint ones (and for a pair with no
  mass); 0 when there is a single map.
- template: each map replaced by its mean over the test images, one fixed map for every image,
  and scored the same way (template purity per map; template coverage and mean purity over the
  maps that are alive). Maps that find the parts image by image beat their templates; maps
  that are a fixed spatial layout (where the parts usually are) score the same as them.
"""
import logging
import time
from collections import OrderedDict
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
import torch.nn.functional as F
from tabulate import tabulate
from torch.utils.data import DataLoader

from ..config.configurable import config_arguments, configurable
from ..data.common import ReidImageDataset, collate_batch
from ..utils import comm
from .build import EVALUATOR_REGISTRY

logger = logging.getLogger(__name__)

# Name of the result group; it follows the protocol's groups (the first one selects model_best).
PART_DISCOVERY_GROUP = "part_discovery"
BACKGROUND = "background"
# Images whose masks are area-pooled at once (bounds the memory of the one-hot masks).
_POOL_CHUNK = 256


def part_fractions(masks: torch.Tensor, num_parts: int, size_hw: Tuple[int, int]) -> torch.Tensor:
    """(N, H, W) integer part labels -> (N, num_parts, h, w) float fractions of each of the
    `size_hw` cells covered by each part (adaptive average pooling of the one-hot masks)."""
    masks = torch.as_tensor(masks).long()
    out = torch.empty(len(masks), num_parts, *size_hw)
    for start in range(0, len(masks), _POOL_CHUNK):
        one_hot = F.one_hot(masks[start:start + _POOL_CHUNK], num_parts).permute(0, 3, 1, 2).float()
        out[start:start + _POOL_CHUNK] = F.adaptive_avg_pool2d(one_hot, size_hw)
    return out


def ground_truth_part_masks(dataset) -> torch.Tensor:
    """(N, H, W) integer part labels of `dataset.test`, in its order (`part_mask(item)`, as SynthVI)."""
    return torch.from_numpy(np.stack([dataset.part_mask(item) for item in dataset.test]))


def part_discovery_metrics(
    part_maps: torch.Tensor,
    masks: torch.Tensor,
    part_names: Sequence[str],
    alive_threshold: float = 0.01,
    alive_min_fraction: float = 0.5,
) -> "OrderedDict[str, float]":
    """The metrics of the module docstring for (N, M, h, w) part maps and (N, H, W) ground-truth
    masks whose values index `part_names` (`part_names[0]` must be the background).

    Keys: maps_alive, coverage, mean_purity (over alive maps; 0 without any), uniform_purity,
    overlap, template_coverage, template_mean_purity, uniform/share/<part>, and per map m = 1..M:
    map<m>/alive_images, map<m>/alive (1 or 0), map<m>/purity, map<m>/template_purity,
    map<m>/share/<part>."""
    part_maps = torch.as_tensor(part_maps).detach().double().cpu()
    masks = torch.as_tensor(masks)
    part_names = list(part_names)
    if part_maps.dim() != 4 or masks.dim() != 3 or len(part_maps) != len(masks) or not len(masks):
        raise ValueError(f"Expected N part maps (N,M,h,w) and N masks (N,H,W), N > 0; got shapes "
                         f"{tuple(part_maps.shape)} and {tuple(masks.shape)}")
    if len(part_names) < 2 or part_names[0] != BACKGROUND:
        raise ValueError(f"part_names must start with '{BACKGROUND}' and name at least one part, got {part_names}")
    if int(masks.min()) < 0 or int(masks.max()) >= len(part_names):
        raise ValueError(f"Mask values {int(masks.min())}..{int(masks.max())} do not index the "
                         f"{len(part_names)} part names {part_names}")
    if not torch.isfinite(part_maps).all() or float(part_maps.min()) < 0:
        raise ValueError("Part maps must be finite, non-negative activations")
    num_maps = part_maps.shape[1]
    fractions = part_fractions(masks, len(part_names), tuple(part_maps.shape[2:])).double()

    alive_images = (part_maps.mean(dim=(2, 3)) > alive_threshold).double().mean(dim=0).numpy()
    alive = alive_images >= alive_min_fraction
    shares = _shares(part_maps, fractions)
    purity, coverage, mean_purity = _matches(shares, alive)
    # the template's share of part p over the images is <template, mean F_p> / sum(template)
    template_purity, template_coverage, template_mean_purity = _matches(
        _shares(part_maps.mean(dim=0, keepdim=True), fractions.mean(dim=0, keepdim=True)), alive)
    area = fractions.mean(dim=(0, 2, 3)).numpy()

    overlaps = []
    for m in range(num_maps):
        for n in range(m + 1, num_maps):
            union = torch.maximum(part_maps[:, m], part_maps[:, n]).sum()
            common = torch.minimum(part_maps[:, m], part_maps[:, n]).sum()
            overlaps.append(float(common / union) if union > 0 else 0.0)

    metrics: "OrderedDict[str, float]" = OrderedDict()
    metrics["maps_alive"] = float(alive.sum())
    metrics["coverage"] = coverage
    metrics["mean_purity"] = mean_purity
    metrics["uniform_purity"] = float(area[1:].max())
    metrics["overlap"] = float(np.mean(overlaps)) if overlaps else 0.0
    metrics["template_coverage"] = template_coverage
    metrics["template_mean_purity"] = template_mean_purity
    for p, name in enumerate(part_names):
        metrics[f"uniform/share/{name}"] = float(area[p])
    for m in range(num_maps):
        metrics[f"map{m + 1}/alive_images"] = float(alive_images[m])
        metrics[f"map{m + 1}/alive"] = float(alive[m])
        metrics[f"map{m + 1}/purity"] = float(purity[m])
        metrics[f"map{m + 1}/template_purity"] = float(template_purity[m])
        for p, name in enumerate(part_names):
            metrics[f"map{m + 1}/share/{name}"] = float(shares[m, p])
    return metrics


def _shares(part_maps: torch.Tensor, fractions: torch.Tensor) -> np.ndarray:
    """(M, P): each map's share of its activation mass, pooled over the images, on each part."""
    mass = part_maps.sum(dim=(0, 2, 3))
    return (torch.einsum("nmhw,nphw->mp", part_maps, fractions) / mass.clamp_min(1e-12)[:, None]).numpy()


def _matches(shares: np.ndarray, alive: np.ndarray) -> Tuple[np.ndarray, float, float]:
    """Each map's purity (its largest body-part share), and over the alive maps the coverage
    (distinct matched parts) and the mean purity (0 without any alive map)."""
    matched = shares[:, 1:].argmax(axis=1) + 1
    purity = shares[:, 1:].max(axis=1)
    coverage = float(len(set(matched[alive & (purity > 0)].tolist())))
    return purity, coverage, float(purity[alive].mean()) if alive.any() else 0.0


def _part_names_of(metrics: Dict[str, float]) -> List[str]:
    prefix = "uniform/share/"
    return [key[len(prefix):] for key in metrics if key.startswith(prefix)]


def matched_parts(metrics: Dict[str, float]) -> List[Tuple[str, float]]:
    """(matched part, purity) of each map, read back from `part_discovery_metrics` output (also
    after a round trip through metrics.json, whose keys are sorted); "none" for a map with no
    mass on any body part."""
    names = _part_names_of(metrics)
    matches = []
    m = 1
    while f"map{m}/purity" in metrics:
        shares = {name: metrics[f"map{m}/share/{name}"] for name in names if name != BACKGROUND}
        purity = metrics[f"map{m}/purity"]
        matches.append((max(shares, key=shares.get) if purity > 0 else "none", purity))
        m += 1
    return matches


def _number(metrics: Dict[str, float], key: str, spec: str = ".2f") -> str:
    """metrics[key] formatted, or "-" for a key that metrics from before it existed lack."""
    return format(metrics[key], spec) if key in metrics else "-"


def format_part_discovery_table(metrics: Dict[str, float]) -> str:
    """One row per map (and one for a uniform map, the baseline): alive, matched part, purity and
    its share of every part; then a line with the model-level numbers."""
    names = _part_names_of(metrics)
    if BACKGROUND in names:  # body parts first, background last
        names = [n for n in names if n != BACKGROUND] + [BACKGROUND]
    rows = []
    for m, (part, purity) in enumerate(matched_parts(metrics), start=1):
        alive = "yes" if metrics[f"map{m}/alive"] else "no"
        rows.append([f"map {m}", f"{alive} ({100 * metrics[f'map{m}/alive_images']:.0f}%)", part, f"{purity:.2f}",
                     _number(metrics, f"map{m}/template_purity")]
                    + [f"{metrics[f'map{m}/share/{name}']:.2f}" for name in names])
    uniform = {name: metrics[f"uniform/share/{name}"] for name in names if name != BACKGROUND}
    rows.append(["uniform map", "-", max(uniform, key=uniform.get), f"{metrics['uniform_purity']:.2f}", "-"]
                + [f"{metrics[f'uniform/share/{name}']:.2f}" for name in names])
    table = tabulate(rows, headers=["map", "alive (images)", "matched part", "purity", "template purity"] + names,
                     tablefmt="pipe", disable_numparse=True)
    return (f"{table}\n(the part columns: each map's share of its activation mass on that part; template: the "
            f"map's mean over the test images, the same for every image)\n"
            f"maps alive {metrics['maps_alive']:.0f}/{len(rows) - 1}, coverage {metrics['coverage']:.0f} "
            f"of {len(uniform)} body parts, mean purity of alive maps {metrics['mean_purity']:.2f} (uniform map: "
            f"{metrics['uniform_purity']:.2f}; the maps' fixed templates: coverage "
            f"{_number(metrics, 'template_coverage', '.0f')}, mean purity {_number(metrics, 'template_mean_purity')}), mean "
            f"overlap between maps (soft IoU) {metrics['overlap']:.2f}")


def has_part_masks(dataset) -> bool:
    """Whether `dataset` knows the body parts of its test images (`part_names` and
    `part_mask(item)`, as SynthVI)."""
    return bool(tuple(getattr(dataset, "part_names", ())))


@EVALUATOR_REGISTRY.register()
class PartDiscoveryEvaluator:
    """Scores a model's part maps against the test set's ground-truth part masks (the module
    docstring's metrics), as the result group PART_DISCOVERY_GROUP.

    It measures the model rather than its features: `inference_on_dataset` hands it the model
    (`attach`), and `process` asks the model for the part maps of each batch's images
    (`model.extract(images)["part_maps"]`, unflipped), one extra forward pass per batch.
    `build_evaluator` puts it beside the protocol's evaluator when TEST.PART_DISCOVERY.ENABLED
    is on and the test set has part masks. A model without `extract`, or whose part head gives
    no maps, is skipped with one log line and no results."""

    @configurable
    def __init__(self, dataset, *, alive_threshold: float = 0.01, alive_min_fraction: float = 0.5):
        """
        Args:
            dataset: the test set's dataset, with `part_names` (background first) and `part_mask(item)`.
            alive_threshold, alive_min_fraction: when a map counts as alive (module docstring).
        """
        if not has_part_masks(dataset):
            raise ValueError(f"PartDiscoveryEvaluator needs a test set with ground-truth part masks (part_names "
                             f"and part_mask(item), as SynthVI's); {type(dataset).__name__} has none")
        self.dataset = dataset
        self.part_names = tuple(dataset.part_names)
        self.alive_threshold = alive_threshold
        self.alive_min_fraction = alive_min_fraction
        self.model = None
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset):
        keys = {"alive_threshold": "TEST.PART_DISCOVERY.ALIVE_THRESHOLD",
                "alive_min_fraction": "TEST.PART_DISCOVERY.ALIVE_MIN_FRACTION"}
        return config_arguments(cfg, keys, dataset=dataset)

    def attach(self, model) -> None:
        """The model whose part maps `process` reads."""
        self.model = model

    def reset(self) -> None:
        self._indices: List[torch.Tensor] = []
        self._maps: List[torch.Tensor] = []
        self._skipped = ""
        self._start = time.perf_counter()

    def process(self, batch: dict, features=None) -> None:
        if self._skipped or not self._can_extract():
            return
        maps = self.model.extract(batch["images"]).get("part_maps")
        if maps is None:
            self._skipped = f"{type(self.model).__name__}'s part head returns no part maps"
            return
        self._indices.append(torch.as_tensor(batch["indices"]).reshape(-1).cpu())
        self._maps.append(maps.detach().float().cpu())

    def _can_extract(self) -> bool:
        return callable(getattr(self.model, "extract", None))

    def evaluate(self) -> "OrderedDict[str, Dict[str, float]]":
        gathered = comm.all_gather((self._skipped, self._indices, self._maps))
        if not comm.is_main_process():
            return OrderedDict()
        skipped = next((reason for reason, _, _ in gathered if reason), "")
        if not self._can_extract():
            skipped = f"{type(self.model).__name__} has no extract(images) method"
        if skipped:
            logger.info("Part discovery skipped: %s", skipped)
            return OrderedDict()
        if not any(rank_indices for _, rank_indices, _ in gathered):
            raise RuntimeError("PartDiscoveryEvaluator.evaluate() called before any process()")
        indices = torch.cat([i for _, rank_indices, _ in gathered for i in rank_indices])
        maps = torch.cat([m for _, _, rank_maps in gathered for m in rank_maps])
        num_test = len(self.dataset.test)
        # distributed samplers may pad with repeated items; a repeat only rewrites a row
        assembled = torch.zeros(num_test, *maps.shape[1:])
        seen = torch.zeros(num_test, dtype=torch.bool)
        assembled[indices], seen[indices] = maps, True
        if not seen.all():
            raise RuntimeError(f"PartDiscoveryEvaluator: {int((~seen).sum())} of {num_test} test items got no part "
                               "maps; the test loader must cover the whole dataset.test")
        masks = ground_truth_part_masks(self.dataset)
        metrics = part_discovery_metrics(assembled, masks, self.part_names, self.alive_threshold,
                                         self.alive_min_fraction)
        logger.info("Part discovery on %d test images, maps of %dx%d cells (%.1f s):\n%s", len(masks),
                    *assembled.shape[2:], time.perf_counter() - self._start, format_part_discovery_table(metrics))
        return OrderedDict([(PART_DISCOVERY_GROUP, metrics)])


def evaluate_part_discovery(cfg, model, dataset) -> "OrderedDict[str, Dict[str, float]]":
    """{PART_DISCOVERY_GROUP: metrics} of `model`'s part maps on every test image of `dataset`
    (PartDiscoveryEvaluator on its own pass over the test images, for tools that want the part
    maps scored without the ReID protocol); {} (with one log line saying why) when
    TEST.PART_DISCOVERY.ENABLED is off, the dataset has no ground-truth part masks, or the model
    gives no part maps."""
    if not cfg.TEST.PART_DISCOVERY.ENABLED:
        return OrderedDict()
    if not has_part_masks(dataset):
        logger.info("Part discovery skipped: %s has no ground-truth part masks", type(dataset).__name__)
        return OrderedDict()
    evaluator = PartDiscoveryEvaluator(cfg, dataset)
    evaluator.attach(model)
    images = ReidImageDataset(dataset.test, cfg.INPUT.SIZE_TEST, decoder=cfg.INPUT.DECODER,
                              resize_backend=cfg.INPUT.RESIZE_BACKEND)
    with torch.no_grad():
        for batch in DataLoader(images, batch_size=int(cfg.TEST.IMS_PER_BATCH), collate_fn=collate_batch):
            evaluator.process(batch)
    return evaluator.evaluate()
