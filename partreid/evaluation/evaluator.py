"""Evaluator base class, the inference loop and result formatting shared by every protocol."""
import abc
import datetime
import logging
import time
from collections import OrderedDict, defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
import torch.nn.functional as F
from tabulate import tabulate

from ..config.configurable import ArgumentError, config_arguments, configurable
from ..utils import comm
from .rank import RankingResult, cosine_distance, rank_gallery
from .rerank import k_reciprocal_rerank

logger = logging.getLogger(__name__)

# Seconds between two progress lines of inference_on_dataset.
_LOG_EVERY_SECONDS = 5.0
# TEST.FLIP_FUSION values (see fuse_flipped).
FLIP_FUSIONS = ("mean", "sum_normalized")


class DatasetEvaluator(abc.ABC):
    """Collects one feature per test item, then scores a protocol on them.

    process() keeps the features of this rank only. evaluate() gathers them from every
    rank with comm.all_gather; rank 0 assembles one feature per item of dataset.test and
    computes the metrics, the other ranks return {} (so that only one process logs and
    writes metrics). Subclasses implement `compute(features)`, given the (N_test, D)
    feature matrix in dataset.test order, returning the ordered group dict.
    """

    @configurable
    def __init__(
        self,
        dataset,
        *,
        flip_features: bool = False,
        flip_fusion: str = "mean",
        num_trials: int = 10,
        rank_batch: int = 1024,
        rerank: bool = False,
        rerank_k1: int = 20,
        rerank_k2: int = 6,
        rerank_lambda: float = 0.3,
    ):
        """
        Args:
            dataset: the test set's dataset (its `test` items, in the order features come).
            flip_features: combine each image's features with its horizontal flip's (done by
                `inference_on_dataset`, which reads this and `flip_fusion`).
            flip_fusion: "mean" or "sum_normalized" (see `fuse_flipped`).
            num_trials: random gallery draws averaged by the protocols that draw galleries.
            rank_batch: queries ranked at once (bounds the memory of the distance matrix).
            rerank: k-reciprocal re-ranking, with parameters k1, k2 and lambda.
        """
        self.dataset = dataset
        self.flip_features = flip_features
        self.flip_fusion = flip_fusion
        if self.flip_fusion not in FLIP_FUSIONS:
            raise ArgumentError("{flip_fusion}={value!r}: expected one of {choices}",
                                value=flip_fusion, choices=list(FLIP_FUSIONS))
        # DEEN's flip sum is ranked by its dot product, un-normalised (see fuse_flipped)
        self.dot_product = self.flip_features and self.flip_fusion == "sum_normalized"
        self.rank_batch = rank_batch
        self.num_trials = num_trials
        self.rerank = rerank
        self.rerank_params = dict(k1=rerank_k1, k2=rerank_k2, lambda_value=rerank_lambda)
        if self.num_trials < 1:
            raise ArgumentError("{num_trials} must be >= 1, got {value}", value=num_trials)
        if not dataset.test:
            raise ValueError(f"{type(dataset).__name__} (root {dataset.root}) has an empty test set")
        self.reset()

    @classmethod
    def from_config(cls, cfg, dataset):
        keys = {
            "flip_features": "TEST.FLIP_FEATURES",
            "flip_fusion": "TEST.FLIP_FUSION",
            "num_trials": "TEST.NUM_TRIALS",
            "rank_batch": "TEST.RANK_BATCH",
            "rerank": "TEST.RERANK.ENABLED",
            "rerank_k1": "TEST.RERANK.K1",
            "rerank_k2": "TEST.RERANK.K2",
            "rerank_lambda": "TEST.RERANK.LAMBDA",
        }
        return config_arguments(cfg, keys, dataset=dataset)

    def reset(self) -> None:
        self._indices: List[torch.Tensor] = []
        self._features: List[torch.Tensor] = []

    def process(self, batch: dict, features: torch.Tensor) -> None:
        indices = torch.as_tensor(batch["indices"]).reshape(-1).cpu()
        if features.shape[0] != indices.numel():
            raise ValueError(f"Got {features.shape[0]} features for a batch of {indices.numel()} indices")
        self._indices.append(indices)
        self._features.append(features.detach().float().cpu())

    def evaluate(self) -> "OrderedDict[str, Dict[str, float]]":
        gathered = comm.all_gather((self._indices, self._features))
        if not comm.is_main_process():
            return OrderedDict()
        index_parts = [i for rank_indices, _ in gathered for i in rank_indices]
        if not index_parts:
            raise RuntimeError(f"{type(self).__name__}.evaluate() called before any process()")
        indices = torch.cat(index_parts)
        features = torch.cat([f for _, rank_features in gathered for f in rank_features])
        num_test = len(self.dataset.test)
        if int(indices.min()) < 0 or int(indices.max()) >= num_test:
            raise ValueError(f"Batch indices out of range 0..{num_test - 1} of the test set")
        # Distributed samplers may pad with repeated items; a repeat only rewrites a row.
        assembled = torch.zeros(num_test, features.shape[1])
        seen = torch.zeros(num_test, dtype=torch.bool)
        assembled[indices] = features
        seen[indices] = True
        if not seen.all():
            missing = int((~seen).sum())
            raise RuntimeError(
                f"{type(self).__name__}: {missing} of {num_test} test items got no feature; the test loader must "
                "cover the whole dataset.test"
            )
        results = self.compute(assembled)
        report_identities_in_one_modality(self.dataset.test, results)
        logger.info("Evaluation results (%s):\n%s", type(self).__name__, print_results_table(results))
        return results

    @abc.abstractmethod
    def compute(self, features: torch.Tensor) -> "OrderedDict[str, Dict[str, float]]":
        """The protocol's results from the features of every test item, in dataset.test order."""

    def rank(
        self,
        features: torch.Tensor,
        query_index: Sequence[int],
        gallery_index: Sequence[int],
        keep=None,
        unique_identities: bool = False,
        distmat: Optional[torch.Tensor] = None,
    ) -> RankingResult:
        """Rank dataset.test[gallery_index] for each of dataset.test[query_index], with
        TEST.RERANK applied when enabled.

        `distmat`: the cosine distances of these queries to this gallery, when the caller
        already has them (protocols with sampled galleries compute queries x every candidate
        once and slice each trial's columns); re-ranking recomputes from the features.
        """
        items = self.dataset.test
        query_index = torch.as_tensor(query_index, dtype=torch.long)
        gallery_index = torch.as_tensor(gallery_index, dtype=torch.long)
        q_pids = [items[i].pid for i in query_index.tolist()]
        g_pids = [items[i].pid for i in gallery_index.tolist()]
        q_feats, g_feats = features[query_index], features[gallery_index]
        common = dict(keep=keep, unique_identities=unique_identities, batch_size=self.rank_batch)
        if self.rerank:
            distmat = k_reciprocal_rerank(q_feats, g_feats, **self.rerank_params)
        elif distmat is None and self.dot_product:
            distmat = self.distance(q_feats, g_feats)
        if distmat is not None:
            return rank_gallery(q_pids, g_pids, distmat=distmat, **common)
        return rank_gallery(q_pids, g_pids, query_features=q_feats, gallery_features=g_feats, **common)

    def distance(self, query_features: torch.Tensor, gallery_features: torch.Tensor) -> torch.Tensor:
        """(Q, G) distances the protocol ranks by: cosine distance, or minus the dot product for
        DEEN's flip fusion (TEST.FLIP_FUSION "sum_normalized"). Re-ranking starts from cosine
        distances in either case."""
        if self.dot_product:
            return -(query_features.float() @ gallery_features.float().t())
        return cosine_distance(query_features, gallery_features)


class DatasetEvaluators:
    """Several evaluators run as one over the same inference pass: each gets every batch, and
    their result groups are merged in order (the first evaluator's groups first, so that the
    protocol's first group stays the one TEST.BEST_METRIC reads). The features are computed, and
    flipped, as the first evaluator asks (`flip_features`, `flip_fusion`)."""

    def __init__(self, evaluators: Sequence):
        if not evaluators:
            raise ValueError("DatasetEvaluators needs at least one evaluator")
        self.evaluators = list(evaluators)
        self.flip_features = getattr(self.evaluators[0], "flip_features", False)
        self.flip_fusion = getattr(self.evaluators[0], "flip_fusion", "mean")

    def attach(self, model) -> None:
        for evaluator in self.evaluators:
            if hasattr(evaluator, "attach"):
                evaluator.attach(model)

    def reset(self) -> None:
        for evaluator in self.evaluators:
            evaluator.reset()

    def process(self, batch: dict, features: torch.Tensor) -> None:
        for evaluator in self.evaluators:
            evaluator.process(batch, features)

    def evaluate(self) -> "OrderedDict[str, Dict[str, float]]":
        results: "OrderedDict[str, Dict[str, float]]" = OrderedDict()
        for evaluator in self.evaluators:
            for group, metrics in evaluator.evaluate().items():
                if group in results:
                    raise ValueError(f"{type(evaluator).__name__} returns the result group {group!r}, which an "
                                     "earlier evaluator already returned")
                results[group] = metrics
        return results


def identities_in_one_modality(items) -> List[int]:
    """Test identities with images of one modality only, sorted ([] for a test set that holds
    one modality in all, as single-modality ReID's)."""
    modalities = defaultdict(set)
    for item in items:
        modalities[item.pid].add(item.modality)
    if len(set().union(*modalities.values())) < 2:
        return []
    return sorted(pid for pid, seen in modalities.items() if len(seen) == 1)


def report_identities_in_one_modality(items, results) -> None:
    """A cross-modality query of an identity with no image in the other modality has no true
    match: rank.py leaves it out of every average. Say so in the log and in every group of
    `results` (`ids_one_modality`: their count, `ids_one_modality_list`: their ids), so that a
    test set missing images is not averaged over fewer identities silently."""
    pids = identities_in_one_modality(items)
    if not pids:
        return
    listed = " ".join(str(pid) for pid in pids)
    logger.warning("%d test identities have images of one modality only; their queries have no cross-modality "
                   "match and are left out of the averages. Identities: %s", len(pids), listed)
    for metrics in results.values():
        metrics["ids_one_modality"] = len(pids)
        metrics["ids_one_modality_list"] = listed


def fuse_flipped(features: torch.Tensor, flipped: torch.Tensor, fusion: str = "mean") -> torch.Tensor:
    """One feature per image from its own and its horizontal flip's (TEST.FLIP_FUSION):
    "mean" averages them (ranked by cosine distance, the average's length does not matter);
    "sum_normalized" adds the two L2-normalised features without normalising the sum, as DEEN's
    test script does; the evaluator then ranks by dot product (DatasetEvaluator.distance)."""
    if fusion == "mean":
        return (features + flipped) / 2.0
    if fusion == "sum_normalized":
        return F.normalize(features.float(), dim=1) + F.normalize(flipped.float(), dim=1)
    raise ValueError(f"TEST.FLIP_FUSION={fusion!r}: expected one of {list(FLIP_FUSIONS)}")


def summarize_trials(trials: Sequence[Dict[str, float]]) -> Dict[str, float]:
    """Mean of each metric over trials, plus `<metric>_std` (population std) when there
    is more than one trial."""
    values = {name: np.array([t[name] for t in trials], dtype=np.float64) for name in trials[0]}
    out = {name: float(v.mean()) for name, v in values.items()}
    if len(trials) > 1:
        out.update({f"{name}_std": float(v.std()) for name, v in values.items()})
    return out


def inference_on_dataset(model, data_loader, evaluator, flip_features: Optional[bool] = None):
    """Run `model` in eval mode under no_grad on every batch of `data_loader`, feed the
    features to `evaluator` and return `evaluator.evaluate()`.

    With `flip_features` (default: the evaluator's TEST.FLIP_FEATURES), the image's and its
    horizontal flip's features are fused as the evaluator's TEST.FLIP_FUSION says
    (`fuse_flipped`). An evaluator that measures the model itself rather than its features
    (PartDiscoveryEvaluator) is handed the model first, through its `attach(model)`. The
    model's training mode is restored afterwards, even on error. Progress with ETA is logged
    every few seconds.
    """
    if flip_features is None:
        flip_features = getattr(evaluator, "flip_features", False)
    flip_fusion = getattr(evaluator, "flip_fusion", "mean")
    total = len(data_loader) if hasattr(data_loader, "__len__") else None
    if hasattr(evaluator, "attach"):
        evaluator.attach(model)
    evaluator.reset()
    was_training = model.training
    model.eval()
    start = last_log = time.perf_counter()
    num_images = 0
    try:
        with torch.no_grad():
            for step, batch in enumerate(data_loader, start=1):
                features = model(batch)
                if flip_features:
                    flipped = dict(batch, images=batch["images"].flip(-1))
                    features = fuse_flipped(features, model(flipped), flip_fusion)
                evaluator.process(batch, features)
                num_images += int(features.shape[0])
                now = time.perf_counter()
                if now - last_log >= _LOG_EVERY_SECONDS:
                    last_log = now
                    rate = (now - start) / step
                    eta = f", ETA {datetime.timedelta(seconds=int(rate * (total - step)))}" if total else ""
                    logger.info("Inference: batch %d/%s, %.3f s/batch%s", step, total or "?", rate, eta)
    finally:
        model.train(was_training)
    elapsed = time.perf_counter() - start
    logger.info(
        "Inference done: %d images in %s (%.2f ms/image)",
        num_images,
        datetime.timedelta(seconds=int(elapsed)),
        1000.0 * elapsed / max(num_images, 1),
    )
    start = time.perf_counter()
    results = evaluator.evaluate()
    logger.info("Metric computation took %.2f s", time.perf_counter() - start)
    return results


def flatten_results(results: Dict[str, Dict[str, float]]) -> Dict[str, float]:
    """{"group/metric": value} for metric writers. Values are floats, except text that names
    how a group was measured (the SYSU galleries' "draw"), which writers store as text."""
    return {f"{group}/{metric}": value for group, metrics in results.items() for metric, value in metrics.items()}


def print_results_table(results: Dict[str, Dict[str, float]]) -> str:
    """A table with one row per group; metrics with a `_std` companion print as mean±std, text
    values (e.g. the SYSU "draw") as they are. Returns the table string (callers log it)."""
    if not results:
        return "(no results)"
    columns: List[str] = []
    for metrics in results.values():
        columns += [m for m in metrics if not m.endswith("_std") and m not in columns]
    rows = []
    for group, metrics in results.items():
        row = [group]
        for name in columns:
            if name not in metrics:
                row.append("")
            elif isinstance(metrics[name], str):
                row.append(metrics[name])
            elif f"{name}_std" in metrics:
                row.append(f"{metrics[name]:.2f}±{metrics[name + '_std']:.2f}")
            else:
                row.append(f"{metrics[name]:.2f}")
        rows.append(row)
    return tabulate(rows, headers=["group"] + columns, tablefmt="pipe")
