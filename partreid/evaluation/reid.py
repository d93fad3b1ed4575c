"""Generic single-modality ReID protocol (Market-1501 style): roles fixed by the dataset."""
from collections import OrderedDict
from typing import Dict

import torch

from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator
from .rank import camera_removal


@EVALUATOR_REGISTRY.register()
class ReidEvaluator(DatasetEvaluator):
    """Items with role "query" against items with role "gallery"; gallery images of the
    query's identity from the query's camera are removed; standard CMC. One group, "reid"."""

    def compute(self, features: torch.Tensor) -> "OrderedDict[str, Dict[str, float]]":
        items = self.dataset.test
        query = [i for i, it in enumerate(items) if it.role == "query"]
        gallery = [i for i, it in enumerate(items) if it.role == "gallery"]
        if not query or not gallery:
            raise ValueError(
                f"{type(self.dataset).__name__}: ReidEvaluator needs test items with role 'query' and 'gallery' "
                f"(got {len(query)} and {len(gallery)}); cross-modality datasets name their own evaluator"
            )
        keep = camera_removal(
            [items[i].pid for i in query],
            [items[i].camid for i in query],
            [items[i].pid for i in gallery],
            [items[i].camid for i in gallery],
        )
        return OrderedDict(reid=self.rank(features, query, gallery, keep=keep).summary())
