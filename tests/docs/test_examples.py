"""Runs every worked example of docs/extending/ through the real builders, so the pages
cannot drift from the code they describe."""
import importlib
import os
import re

import pytest
import torch

from partreid.config import setup_cfg
from partreid.data import INFRARED, VISIBLE
from partreid.modeling.losses.build import build_losses
from partreid.utils.testing import declare_project

EXAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                        "docs", "extending", "examples")
PAGES = ["backbone", "part_head", "mixer", "loss", "sampler", "evaluator", "dataset", "new_project", "trainer", "contract"]


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(EXAMPLES)
    return importlib.import_module  # modules are cached, so each registers once per session


def test_every_extension_point_has_a_page_and_the_index_links_it():
    extending = os.path.dirname(EXAMPLES)
    index = open(os.path.join(os.path.dirname(extending), "README.md")).read()
    for page in PAGES:
        assert os.path.isfile(os.path.join(extending, f"{page}.md")), page
        assert f"extending/{page}.md" in index, page


def test_the_pages_snippets_are_code_that_runs():
    """Every line of a page's python snippet (but `...`) is a line of a worked example or of
    partreid's own code, so that a snippet cannot drift from the code the tests run."""
    repo = os.path.dirname(os.path.dirname(os.path.dirname(EXAMPLES)))
    sources = [os.path.join(EXAMPLES, name) for name in os.listdir(EXAMPLES) if name.endswith(".py")]
    for folder, _, names in os.walk(os.path.join(repo, "partreid")):
        sources += [os.path.join(folder, name) for name in names if name.endswith(".py")]
    code = {line.strip() for path in sources for line in open(path).read().splitlines()} | {"", "..."}
    for page in PAGES:
        text = open(os.path.join(os.path.dirname(EXAMPLES), f"{page}.md")).read()
        for snippet in re.findall(r"```python\n(.*?)```", text, re.S):
            for line in snippet.splitlines():
                assert line.strip() in code, f"{page}.md: {line.strip()!r} is in no example or source file"


def test_backbone(example):
    feature_shape, descriptor_shape = example("tiny_backbone").demo()
    assert tuple(feature_shape) == (2, 32, 8, 4)
    assert tuple(descriptor_shape) == (2, (2 + 1) * 32)


def test_part_head(example):
    out, features = example("attention_part_head").demo()
    assert out["part_descriptors"].shape == (2, 3, 8) and out["part_maps"].shape == (2, 3, 6, 4)
    assert torch.allclose(out["part_maps"].flatten(2).amax(-1), torch.ones(2, 3))
    assert features["part_maps"].shape[1] == 3 and features["features"].shape == (2, 4 * 512)


def test_mixer(example):
    (mixed, targets), batch = example("modality_mixup_mixer").demo()
    lam = float(targets.lam[0])
    partner_values = (mixed[:, 0, 0, 0] - lam * torch.arange(4.0)) / (1 - lam)
    partners = partner_values.round().long()
    assert (batch["modalities"][partners] != batch["modalities"]).all()
    assert torch.equal(targets.targets_b, batch["targets"][partners])


def test_loss(example):
    terms, absent = example("norm_penalty_loss").demo()
    assert terms["loss_norm"].item() == pytest.approx(0.04) and absent == {}


def test_sampler(example):
    items, batches = example("same_modality_sampler").demo()
    modalities = [{items[key.index].modality for key in batch} for batch in batches]
    assert all(len(m) == 1 for m in modalities) and {VISIBLE, INFRARED} == set.union(*modalities)
    assert all(len(batch) == 6 for batch in batches)


def test_evaluator(example):
    results = example("all_pairs_evaluator").demo()
    assert results["infrared_to_visible"]["Rank-1"] == 100.0 and results["infrared_to_visible"]["mAP"] == 100.0


def test_dataset(example, tmp_path):
    dataset, batch = example("csv_dataset").demo(str(tmp_path))
    assert sorted(item.pid for item in dataset.train) == [0, 0, 1] and dataset.num_train_pids == 2
    assert [item.pid for item in dataset.test] == [2, 2]
    assert batch["images"].shape == (2, 3, 16, 8) and batch["images"].dtype == torch.uint8


def test_new_project_through_projects_key(example, tmp_path, monkeypatch):
    config = tmp_path / "toy.yaml"
    config.write_text('PROJECTS: ["toy_project"]\nMODEL:\n  LOSSES:\n    TOY:\n      ENABLED: True\n      WEIGHT: 0.5\n')
    example("toy_project")  # importable from the examples folder, as an installed project would be
    declare_project(tmp_path, "toy_project")  # and declared a project, as its pyproject.toml does
    monkeypatch.syspath_prepend(str(tmp_path))
    cfg = setup_cfg(str(config))
    assert cfg.MODEL.LOSSES.TOY.WEIGHT == 0.5
    losses = build_losses(cfg)
    assert [type(loss).__name__ for loss in losses][-2:] == ["PartSeparationLoss", "ToyLogitLoss"]  # after the core's
    loss = losses[-1]
    assert loss(example("toy_project").demo_batch(), {})["loss_toy"].item() == pytest.approx(0.5)


def test_trainer(example):
    from partreid.modeling.meta_arch.build import build_model
    from partreid.utils.testing import tiny_model_cfg

    cfg = tiny_model_cfg()
    model = build_model(cfg)
    optimizer = example("sgd_trainer").demo(cfg, model)
    assert isinstance(optimizer, torch.optim.SGD) and optimizer.defaults["momentum"] == 0.9
    assert optimizer.param_groups[0]["lr"] == cfg.SOLVER.BASE_LR
