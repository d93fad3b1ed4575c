"""Owns the EVALUATOR registry."""
from fvcore.common.registry import Registry

from ..utils.registry import get_registered

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = """
Evaluators: `cls(cfg, dataset)` with reset() / process(batch, features) / evaluate() -> {group: {metric: value}};
optionally attach(model), called by inference_on_dataset before the pass, for an evaluator that
measures the model rather than its features.
"""


def build_evaluator(cfg, dataset):
    """TEST.EVALUATOR (default: the test dataset's protocol), and beside it, where the test set
    has ground-truth part masks and TEST.PART_DISCOVERY.ENABLED is on, PartDiscoveryEvaluator,
    the two run as one (DatasetEvaluators)."""
    from .evaluator import DatasetEvaluators
    from .part_discovery import PartDiscoveryEvaluator, has_part_masks

    name = cfg.TEST.EVALUATOR or dataset.default_evaluator
    evaluator = get_registered(EVALUATOR_REGISTRY, name, "TEST.EVALUATOR")(cfg, dataset)
    if (cfg.TEST.PART_DISCOVERY.ENABLED and has_part_masks(dataset)
            and not isinstance(evaluator, PartDiscoveryEvaluator)):
        return DatasetEvaluators([evaluator, PartDiscoveryEvaluator(cfg, dataset)])
    return evaluator
