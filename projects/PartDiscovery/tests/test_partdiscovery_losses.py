"""PartIdentityLoss and PartConcentrationLoss: their values, their weights from the project's keys,
and a PartBaseline that trains with them (and with maps detached from chosen losses)."""
import math

import pytest
import torch

import partdiscovery
from partdiscovery.part_concentration import PartConcentrationLoss
from partdiscovery.part_identity import PartIdentityLoss
from partreid.modeling.losses import enable_losses
from partreid.modeling.meta_arch.build import build_model
from partreid.modeling.mixers.base import MixedTargets
from partreid.utils.testing import tiny_model_cfg

LN3 = math.log(3.0)


def test_part_identity_loss_is_the_mean_cross_entropy_of_the_part_slots():

    part_logits = torch.tensor([[[0.0, 0.0], [LN3, 0.0]], [[LN3, 0.0], [0.0, 0.0]]], requires_grad=True)
    outputs = {"part_logits": part_logits, "targets": torch.tensor([0, 0]), "mixed_targets": None}
    expected = (math.log(2) + math.log(4 / 3)) / 2  # each slot: one sample at ln 2, one at ln(4/3)
    assert PartIdentityLoss(weight=2.0)(outputs, {})["loss_part_id"].item() == pytest.approx(2 * expected)
    mixed = dict(outputs, mixed_targets=MixedTargets(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([1.0, 1.0])))
    assert PartIdentityLoss(weight=1.0)(mixed, {})["loss_part_id"].item() == pytest.approx(expected)
    assert PartIdentityLoss()({"part_logits": None}, {}) == {}


def test_part_concentration_loss_is_the_spatial_variance_blind_to_strength():

    loss = PartConcentrationLoss(weight=1.0)
    point = torch.zeros(1, 1, 8, 4)
    point[0, 0, 3, 1] = 1.0
    assert loss({"part_maps": point}, {})["loss_conc"].item() == pytest.approx(0.0, abs=1e-7)
    uniform = torch.ones(1, 1, 8, 4)
    rows, cols = torch.linspace(0, 1, 8), torch.linspace(0, 1, 4)
    expected = rows.var(unbiased=False).item() + cols.var(unbiased=False).item()
    assert loss({"part_maps": uniform}, {})["loss_conc"].item() == pytest.approx(expected)
    assert loss({"part_maps": 0.01 * uniform}, {})["loss_conc"].item() == pytest.approx(expected)
    two_rows = torch.zeros(1, 1, 8, 4)
    two_rows[0, 0, [0, 7]] = 1.0  # split over distant rows: the variance of y in {0, 1} = 0.25, plus x's
    assert loss({"part_maps": two_rows}, {})["loss_conc"].item() == pytest.approx(0.25 + cols.var(unbiased=False).item())
    assert loss({"part_maps": None}, {}) == {}



def test_weights_come_from_the_project_keys():
    cfg = tiny_model_cfg()
    partdiscovery.add_config(cfg)
    cfg.MODEL.LOSSES.PART_ID.WEIGHT, cfg.MODEL.LOSSES.CONC.WEIGHT = 0.4, 0.35
    assert PartIdentityLoss(cfg).weight == 0.4 and PartConcentrationLoss(cfg).weight == 0.35


def test_a_part_baseline_trains_with_the_head_and_losses_and_detached_maps():
    cfg = tiny_model_cfg()
    partdiscovery.add_config(cfg)
    cfg.MODEL.PART_HEAD.NAME = "PartDiscoveryHead"
    enable_losses(cfg, ["IdentityLoss", "CenterClusterLoss", "PartIdentityLoss", "PartConcentrationLoss"])
    cfg.MODEL.LOSSES.DETACH_MAPS = ["CenterClusterLoss"]
    torch.manual_seed(0)
    model = build_model(cfg).train()
    batch = {
        "images": torch.randint(0, 256, (8, 3, 64, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)),
        "targets": torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]), "camids": torch.tensor([1, 3, 1, 3, 2, 6, 2, 6]),
        "modalities": torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]), "indices": torch.arange(8), "epoch": 0,
    }
    outputs = model.training_outputs(model.preprocess(batch["images"]), batch)
    terms = model.losses_from(outputs, batch)
    assert set(terms) == {"loss_id", "loss_cc", "loss_part_id", "loss_conc"}
    grad, = torch.autograd.grad(terms["loss_cc"], outputs["part_maps"], retain_graph=True, allow_unused=True)
    assert grad is None  # the centre-cluster term sees the maps as fixed
    sum(terms.values()).backward()
    assert model.part_head.detector.weight.grad.abs().sum() > 0
