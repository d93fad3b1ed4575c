"""PartDiscoveryEvaluator: registered, composed with the protocol's evaluator by build_evaluator
where the test set has part masks, and giving in the one inference pass the numbers a separate
pass over the test images gives."""
from collections import OrderedDict

import pytest
import torch

from partreid.data.datasets import SynthVI
from partreid.engine import DefaultTrainer
from partreid.evaluation import (
    EVALUATOR_REGISTRY,
    PART_DISCOVERY_GROUP,
    DatasetEvaluators,
    PartDiscoveryEvaluator,
    SYSUEvaluator,
    build_evaluator,
    evaluate_part_discovery,
)
from partreid.modeling.meta_arch.build import build_model
from partreid.utils.testing import tiny_model_cfg

SYNTHVI = dict(num_train_ids=3, num_test_ids=3, images_per_camera=1, image_size=[64, 32], seed=0)


@pytest.fixture(scope="module")
def synthvi(tmp_path_factory):
    return SynthVI(str(tmp_path_factory.mktemp("pd") / "SynthVI"), params=SYNTHVI)


def small_cfg():
    cfg = tiny_model_cfg()
    cfg.INPUT.SIZE_TEST = [64, 32]
    cfg.TEST.IMS_PER_BATCH = 5  # several batches, the last one short
    cfg.TEST.NUM_TRIALS = 1
    cfg.DATALOADER.NUM_WORKERS = 0
    return cfg


def test_registered_and_composed_only_where_the_test_set_has_part_masks(synthvi):
    assert EVALUATOR_REGISTRY.get("PartDiscoveryEvaluator") is PartDiscoveryEvaluator
    cfg = small_cfg()
    composite = build_evaluator(cfg, synthvi)
    assert isinstance(composite, DatasetEvaluators)
    assert [type(e) for e in composite.evaluators] == [SYSUEvaluator, PartDiscoveryEvaluator]
    cfg.TEST.PART_DISCOVERY.ENABLED = False
    assert isinstance(build_evaluator(cfg, synthvi), SYSUEvaluator)
    cfg.TEST.PART_DISCOVERY.ENABLED = True
    cfg.TEST.EVALUATOR = "PartDiscoveryEvaluator"  # on its own, when named
    assert isinstance(build_evaluator(cfg, synthvi), PartDiscoveryEvaluator)

    class NoMasks:
        test = synthvi.test
        part_names = ()
    with pytest.raises(ValueError, match="PartDiscoveryEvaluator needs a test set with ground-truth part masks.*NoMasks"):
        PartDiscoveryEvaluator(cfg, NoMasks())


def test_one_pass_gives_the_protocol_groups_then_part_discovery(synthvi):
    cfg = small_cfg()
    torch.manual_seed(0)
    model = build_model(cfg)
    results = DefaultTrainer.test(cfg, model, synthvi)
    groups = list(results)
    assert groups[-1] == PART_DISCOVERY_GROUP and groups[0] == "all_search_1shot"
    # the numbers of a pass of its own over the test images (the tools' entry point)
    alone = evaluate_part_discovery(cfg, model, synthvi)
    assert results[PART_DISCOVERY_GROUP] == alone[PART_DISCOVERY_GROUP]
    assert results[PART_DISCOVERY_GROUP]["maps_alive"] <= cfg.MODEL.PART_HEAD.NUM_PARTS
    cfg.TEST.PART_DISCOVERY.ENABLED = False
    assert PART_DISCOVERY_GROUP not in DefaultTrainer.test(cfg, model, synthvi)


def test_a_model_without_part_maps_is_skipped_with_one_line(synthvi, caplog):
    evaluator = PartDiscoveryEvaluator(small_cfg(), synthvi)
    evaluator.attach(torch.nn.Identity())
    evaluator.reset()
    evaluator.process({"images": torch.zeros(1), "indices": torch.tensor([0])})
    with caplog.at_level("INFO", logger="partreid.evaluation.part_discovery"):
        assert evaluator.evaluate() == {}
    assert [r.getMessage() for r in caplog.records] == ["Part discovery skipped: Identity has no extract(images) method"]


def test_composed_evaluators_refuse_a_group_twice():
    class Fixed:
        def __init__(self, group):
            self.group = group

        def reset(self):
            pass

        def process(self, batch, features):
            pass

        def evaluate(self):
            return OrderedDict([(self.group, {"mAP": 1.0})])

    assert list(DatasetEvaluators([Fixed("a"), Fixed("b")]).evaluate()) == ["a", "b"]
    with pytest.raises(ValueError, match="Fixed returns the result group 'a', which an earlier evaluator"):
        DatasetEvaluators([Fixed("a"), Fixed("a")]).evaluate()
