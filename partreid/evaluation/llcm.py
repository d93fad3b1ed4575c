"""LLCM protocol (Zhang & Wang, CVPR 2023), as in its public test script (ZYK100/LLCM, DEEN/test.py)."""
from collections import OrderedDict
from typing import Dict, Sequence

import torch

from ..config.configurable import ArgumentError, config_arguments, configurable
from ..data.datasets.base import INFRARED, VISIBLE
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator, summarize_trials
from .gallery_draw import seeded_gallery_draw
from .rank import camera_removal

DIRECTIONS = ("infrared_to_visible", "visible_to_infrared")


@EVALUATOR_REGISTRY.register()
class LLCMEvaluator(DatasetEvaluator):
    """Both directions, `num_trials` (TEST.NUM_TRIALS) sampled galleries each (`directions`,
    TEST.LLCM.DIRECTIONS, the first is the primary group).

    infrared_to_visible: every IR test image queries a gallery of one visible image per
    identity per camera, drawn with seed = trial. visible_to_infrared: the released script
    draws one IR image per identity per camera the same way, but then ranks with the
    *drawn* IR images as queries against every visible image (its distance matrix is
    transposed); `vis_to_ir_as_released` (TEST.LLCM.VIS_TO_IR_AS_RELEASED) keeps that (comparable with published
    numbers), False ranks every visible image against the drawn IR gallery instead.
    Both: gallery images of the query's identity from the query's camera number are
    removed (LLCM's RGB and IR cameras share numbers per location), and the CMC counts
    unique identities (the script's eval_llcm).
    """

    @configurable
    def __init__(
        self, dataset, *, directions: Sequence[str] = DIRECTIONS, vis_to_ir_as_released: bool = True, **kwargs
    ):
        """
        Args:
            dataset: the LLCM dataset.
            directions: "infrared_to_visible" and/or "visible_to_infrared", the primary first.
            vis_to_ir_as_released: rank visible-to-infrared as the released script does (above).
            kwargs: DatasetEvaluator's arguments (num_trials, flip_features, ...).
        """
        super().__init__(dataset, **kwargs)
        self.directions = list(directions)
        for name in self.directions:
            if name not in DIRECTIONS:
                raise ArgumentError("{directions} has {value!r}; expected a subset of {choices}",
                                    value=name, choices=list(DIRECTIONS))
        if not self.directions:
            raise ArgumentError("{directions} is empty")
        self.vis_to_ir_as_released = vis_to_ir_as_released

    @classmethod
    def from_config(cls, cfg, dataset):
        arguments = super().from_config(cfg, dataset)
        keys = {"directions": "TEST.LLCM.DIRECTIONS", "vis_to_ir_as_released": "TEST.LLCM.VIS_TO_IR_AS_RELEASED"}
        arguments.update(config_arguments(cfg, keys))
        return arguments

    def queries_and_gallery(self, direction: str, trial: int):
        """(query indices, gallery indices) into dataset.test for one trial."""
        items = self.dataset.test
        visible = [i for i, it in enumerate(items) if it.modality == VISIBLE]
        infrared = [i for i, it in enumerate(items) if it.modality == INFRARED]
        if not visible or not infrared:
            raise ValueError(
                f"{type(self.dataset).__name__}: LLCM needs test images of both modalities "
                f"(got {len(visible)} visible, {len(infrared)} infrared)"
            )
        if direction == "infrared_to_visible":
            return infrared, seeded_gallery_draw(items, visible, shots=1, seed=trial)
        drawn_infrared = seeded_gallery_draw(items, infrared, shots=1, seed=trial)
        if self.vis_to_ir_as_released:
            return drawn_infrared, visible
        return visible, drawn_infrared

    def compute(self, features: torch.Tensor) -> "OrderedDict[str, Dict[str, float]]":
        items = self.dataset.test
        results: "OrderedDict[str, Dict[str, float]]" = OrderedDict()
        for direction in self.directions:
            trials = []
            for trial in range(self.num_trials):
                query, gallery = self.queries_and_gallery(direction, trial)
                keep = camera_removal(
                    [items[i].pid for i in query],
                    [items[i].camid for i in query],
                    [items[i].pid for i in gallery],
                    [items[i].camid for i in gallery],
                )
                ranking = self.rank(features, query, gallery, keep=keep, unique_identities=True)
                trials.append(ranking.summary())
            results[direction] = summarize_trials(trials)
        return results
