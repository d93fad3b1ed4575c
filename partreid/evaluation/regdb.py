"""RegDB protocol: every visible test image against every thermal one, both ways."""
from collections import OrderedDict
from typing import Dict, Sequence

import torch

from ..config.configurable import ArgumentError, config_arguments, configurable
from ..data.datasets.base import INFRARED, VISIBLE
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator

# Query and gallery modality of each search direction.
DIRECTIONS = {"visible_to_thermal": (VISIBLE, INFRARED), "thermal_to_visible": (INFRARED, VISIBLE)}


@EVALUATOR_REGISTRY.register()
class RegDBEvaluator(DatasetEvaluator):
    """One group per `directions` (TEST.REGDB.DIRECTIONS) entry (the first is the primary one): all test
    images of one modality query all of the other; standard CMC, no camera removal (the
    two modalities are two cameras). RegDB's 10 trials are 10 splits, i.e. 10 models
    (DATASETS.REGDB_TRIAL), so there is no averaging here."""

    @configurable
    def __init__(self, dataset, *, directions: Sequence[str] = tuple(DIRECTIONS), **kwargs):
        """
        Args:
            dataset: one RegDB trial's dataset.
            directions: "visible_to_thermal" and/or "thermal_to_visible", the primary first.
            kwargs: DatasetEvaluator's arguments (flip_features, rerank, ...).
        """
        super().__init__(dataset, **kwargs)
        self.directions = list(directions)
        for name in self.directions:
            if name not in DIRECTIONS:
                raise ArgumentError("{directions} has {value!r}; expected a subset of {choices}",
                                    value=name, choices=sorted(DIRECTIONS))
        if not self.directions:
            raise ArgumentError("{directions} is empty")

    @classmethod
    def from_config(cls, cfg, dataset):
        arguments = super().from_config(cfg, dataset)
        arguments.update(config_arguments(cfg, {"directions": "TEST.REGDB.DIRECTIONS"}))
        return arguments

    def compute(self, features: torch.Tensor) -> "OrderedDict[str, Dict[str, float]]":
        items = self.dataset.test
        results: "OrderedDict[str, Dict[str, float]]" = OrderedDict()
        for name in self.directions:
            query_modality, gallery_modality = DIRECTIONS[name]
            query = [i for i, it in enumerate(items) if it.modality == query_modality]
            gallery = [i for i, it in enumerate(items) if it.modality == gallery_modality]
            if not query or not gallery:
                raise ValueError(
                    f"{type(self.dataset).__name__}: {name} needs test images of both modalities "
                    f"(got {len(query)} queries, {len(gallery)} gallery)"
                )
            results[name] = self.rank(features, query, gallery).summary()
        return results
