"""Owns the EVALUATOR registry."""
from fvcore.common.registry import Registry

from ..utils.registry import get_registered

EVALUATOR_REGISTRY = Registry("EVALUATOR")
EVALUATOR_REGISTRY.__doc__ = """
Evaluators: `cls(cfg, dataset)` with reset() / process(batch, features) / evaluate() -> {metric: value}.
"""


def build_evaluator(cfg, dataset):
    name = cfg.TEST.EVALUATOR or dataset.default_evaluator
    return get_registered(EVALUATOR_REGISTRY, name, "TEST.EVALUATOR")(cfg, dataset)
