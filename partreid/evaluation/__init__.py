"""Evaluation: the EVALUATOR registry, one vectorised ranking, and the VI-ReID protocols.

Importing this package registers ReidEvaluator, SYSUEvaluator, RegDBEvaluator and
LLCMEvaluator, and PartDiscoveryEvaluator, which scores learned part maps against ground-truth
part masks; `build_evaluator` runs it beside the protocol's evaluator (DatasetEvaluators) where
the test set has them.
"""
from .build import EVALUATOR_REGISTRY, build_evaluator
from .evaluator import DatasetEvaluator, DatasetEvaluators, flatten_results, inference_on_dataset, print_results_table
from .llcm import LLCMEvaluator
from .part_discovery import (
    PART_DISCOVERY_GROUP,
    PartDiscoveryEvaluator,
    evaluate_part_discovery,
    part_discovery_metrics,
)
from .rank import RankingResult, camera_removal, cosine_distance, rank_gallery
from .regdb import RegDBEvaluator
from .reid import ReidEvaluator
from .rerank import k_reciprocal_rerank
from .sysu import SYSUEvaluator

__all__ = [
    "EVALUATOR_REGISTRY",
    "build_evaluator",
    "DatasetEvaluator",
    "DatasetEvaluators",
    "inference_on_dataset",
    "flatten_results",
    "print_results_table",
    "rank_gallery",
    "RankingResult",
    "camera_removal",
    "cosine_distance",
    "k_reciprocal_rerank",
    "ReidEvaluator",
    "SYSUEvaluator",
    "RegDBEvaluator",
    "LLCMEvaluator",
    "PART_DISCOVERY_GROUP",
    "PartDiscoveryEvaluator",
    "evaluate_part_discovery",
    "part_discovery_metrics",
]
