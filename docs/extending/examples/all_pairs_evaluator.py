"""A registered evaluator: every infrared test image against every visible one, one group."""
from collections import OrderedDict

import torch

from partreid.config import get_cfg
from partreid.data import INFRARED, VISIBLE, ReidDataset, ReidItem
from partreid.evaluation.build import EVALUATOR_REGISTRY, build_evaluator
from partreid.evaluation.evaluator import DatasetEvaluator


@EVALUATOR_REGISTRY.register()
class AllPairsEvaluator(DatasetEvaluator):
    """No gallery sampling and no camera rule: an upper-bound-style check for small sets.
    The base class gathers features over ranks; `compute` only picks query and gallery. It adds
    no argument, so the base class's __init__ and from_config serve as they are."""

    def compute(self, features: torch.Tensor):
        items = self.dataset.test
        query = [i for i, it in enumerate(items) if it.modality == INFRARED]
        gallery = [i for i, it in enumerate(items) if it.modality == VISIBLE]
        return OrderedDict(infrared_to_visible=self.rank(features, query, gallery).summary())


def demo():
    cfg = get_cfg()
    cfg.TEST.EVALUATOR = "AllPairsEvaluator"
    test = [ReidItem(f"{pid}_{m}.jpg", pid, 1 + m, m) for pid in range(3) for m in (VISIBLE, INFRARED)]
    dataset = ReidDataset("", train=[], test=test)
    evaluator = build_evaluator(cfg, dataset)
    features = torch.eye(3).repeat_interleave(2, dim=0)  # both images of an identity share a feature
    evaluator.process({"indices": torch.arange(6)}, features)
    results = evaluator.evaluate()
    standalone = AllPairsEvaluator(dataset)  # the base class's arguments (all optional but the dataset)
    standalone.process({"indices": torch.arange(6)}, features)
    assert standalone.evaluate() == results
    return results
