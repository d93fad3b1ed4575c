"""Every loss against a value computed by hand (in the comments) on a tiny input."""
import math

import pytest
import torch

from partreid.config import get_cfg
from partreid.modeling.losses import (
    CenterClusterLoss,
    IdentityLoss,
    ModalityLearningLoss,
    ModalitySpecificIDLoss,
    PartSeparationLoss,
    TripletLoss,
)
from partreid.modeling.mixers.base import MixedTargets
from partreid.utils.errors import UserError

LN3 = math.log(3.0)


def _identity_outputs():
    # Sample 0: logits (0, 0), label 0 -> CE = ln 2 = 0.693147
    # Sample 1: logits (ln 3, 0), label 0 -> p = 3/4, CE = ln(4/3) = 0.287682
    return {
        "logits": torch.tensor([[0.0, 0.0], [LN3, 0.0]], requires_grad=True),
        "targets": torch.tensor([0, 0]),
        "modalities": torch.tensor([0, 1]),
        "mixed_targets": None,
    }


def test_identity_loss_mean_and_weight():
    cfg = get_cfg()
    cfg.MODEL.LOSSES.ID.WEIGHT = 2.0
    terms = IdentityLoss(cfg)(_identity_outputs(), {})
    # 2 * (0.693147 + 0.287682) / 2
    assert terms["loss_id"].item() == pytest.approx(0.980829, abs=1e-5)


def test_identity_loss_per_modality_reduction():
    cfg = get_cfg()
    cfg.MODEL.LOSSES.ID.REDUCTION = "per_modality"
    outputs = _identity_outputs()
    outputs["modalities"] = torch.tensor([0, 0])
    # Only visible samples: visible mean 0.490415, infrared part absent (0).
    assert IdentityLoss(cfg)(outputs, {})["loss_id"].item() == pytest.approx(0.490415, abs=1e-5)
    outputs["modalities"] = torch.tensor([0, 1])
    # ln 2 + ln(4/3) = ln(8/3)
    assert IdentityLoss(cfg)(outputs, {})["loss_id"].item() == pytest.approx(0.980829, abs=1e-5)


def test_identity_loss_label_smoothing():
    cfg = get_cfg()
    cfg.MODEL.LOSSES.ID.LABEL_SMOOTHING = 0.2
    # Targets become (0.9, 0.1): sample 0 stays ln 2; sample 1: 0.9 ln(4/3) + 0.1 ln 4 = 0.397543
    assert IdentityLoss(cfg)(_identity_outputs(), {})["loss_id"].item() == pytest.approx(0.545345, abs=1e-5)


def test_identity_loss_mixed_targets():
    outputs = _identity_outputs()
    outputs["mixed_targets"] = MixedTargets(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([1.0, 0.25]))
    # Sample 1: 0.25 ln(4/3) + 0.75 ln 4 = 1.111641; mean with ln 2
    assert IdentityLoss(get_cfg())(outputs, {})["loss_id"].item() == pytest.approx(0.902394, abs=1e-5)


def test_identity_loss_rejects_bad_reduction():
    cfg = get_cfg()
    cfg.MODEL.LOSSES.ID.REDUCTION = "sum"
    with pytest.raises(ValueError, match="MODEL.LOSSES.ID.REDUCTION"):
        IdentityLoss(cfg)


def _sid_outputs():
    big = [100.0, -100.0]  # rows of the wrong modality: must not count
    return {
        "logits_visible": torch.tensor([[0.0, 0.0], [LN3, 0.0], big]),
        "logits_infrared": torch.tensor([big, big, [0.0, 0.0]]),
        "targets": torch.tensor([0, 0, 1]),
        "modalities": torch.tensor([0, 0, 1]),
        "mixed_targets": None,
    }


@pytest.mark.parametrize("count_twice, expected", [(False, 0.591781), (True, 1.183562)])
def test_modality_specific_id_loss(count_twice, expected):
    cfg = get_cfg()
    cfg.MODEL.LOSSES.SID.COUNT_TWICE = count_twice
    # visible mean (ln 2 + ln 4/3)/2 = 0.490415, infrared ln 2 = 0.693147; sum 1.183562, x 0.5
    assert ModalitySpecificIDLoss(cfg)(_sid_outputs(), {})["loss_sid"].item() == pytest.approx(expected, abs=1e-5)


def test_modality_specific_id_loss_single_modality_batch_is_finite():
    outputs = _sid_outputs()
    outputs["modalities"] = torch.tensor([0, 0, 0])
    outputs["targets"] = torch.tensor([0, 0, 0])
    outputs["logits_visible"] = torch.tensor([[0.0, 0.0], [LN3, 0.0], [0.0, 0.0]])
    # (ln 2 + ln 4/3 + ln 2) / 3 * 0.5
    value = ModalitySpecificIDLoss(get_cfg())(outputs, {})["loss_sid"].item()
    assert value == pytest.approx(0.5 * (2 * math.log(2) + math.log(4 / 3)) / 3, abs=1e-5)


def test_modality_learning_loss():
    logits_visible = torch.tensor([[0.0, 0.0], [9.0, -9.0]], requires_grad=True)
    logits_infrared = torch.tensor([[-9.0, 9.0], [LN3, 0.0]], requires_grad=True)
    outputs = {
        "logits_visible": logits_visible,
        "logits_infrared": logits_infrared,
        "mean_logits_visible": torch.tensor([[5.0, 1.0], [0.0, 0.0]]),
        "mean_logits_infrared": torch.tensor([[LN3, 0.0], [-4.0, 4.0]]),
        "modalities": torch.tensor([0, 1]),
    }
    # Visible sample 0: KL((.5,.5) || (.75,.25)) = .5 ln(2/3) + .5 ln 2 = 0.143841
    # Infrared sample 1: KL((.75,.25) || (.5,.5)) = .75 ln 1.5 + .25 ln .5 = 0.130812
    # 2.5 * mean = 0.343317
    term = ModalityLearningLoss(get_cfg())(outputs, {})["loss_ml"]
    assert term.item() == pytest.approx(0.343317, abs=1e-5)
    term.backward()
    # Only the own-modality rows receive gradient.
    assert logits_visible.grad[1].abs().sum() == 0 and logits_infrared.grad[0].abs().sum() == 0
    assert logits_visible.grad[0].abs().sum() > 0 and logits_infrared.grad[1].abs().sum() > 0


def test_modality_learning_loss_absent_inputs():
    assert ModalityLearningLoss(get_cfg())({"modalities": torch.tensor([0])}, {}) == {}


def test_center_cluster_loss():
    x = torch.tensor([[0.0, 0.0], [0.2, 0.0], [0.0, 0.4], [0.0, 0.6], [3.0, 0.0]], requires_grad=True)
    outputs = {"descriptors": x, "targets": torch.tensor([0, 0, 1, 1, 2]), "mixed_targets": None}
    # centres (0.1,0), (0,0.5), (3,0); pull: four distances 0.1 and one 0 -> 0.4/5 = 0.08
    # centre pairs: |(0.1,-0.5)| = 0.509902 -> hinge 0.190098; the other two are > 0.7 -> 0
    # push = 0.190098 / 3 = 0.063366; total 0.143366
    term = CenterClusterLoss(get_cfg())(outputs, {})["loss_cc"]
    assert term.item() == pytest.approx(0.143366, abs=1e-5)
    term.backward()
    assert torch.isfinite(x.grad).all()  # the single-sample identity sits on its centre


def test_center_cluster_loss_uses_dominant_label_when_mixed():
    x = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    outputs = {"descriptors": x, "targets": torch.tensor([0, 0]), "mixed_targets": None}
    # One identity: pull = 0.5, no centre pair.
    assert CenterClusterLoss(get_cfg())(outputs, {})["loss_cc"].item() == pytest.approx(0.5, abs=1e-5)
    # Dominant labels (0, 1): both on their centres, centres 1.0 apart > 0.7 -> 0.
    outputs["mixed_targets"] = MixedTargets(torch.tensor([0, 0]), torch.tensor([1, 1]), torch.tensor([0.7, 0.3]))
    assert CenterClusterLoss(get_cfg())(outputs, {})["loss_cc"].item() == pytest.approx(0.0, abs=1e-5)


def test_triplet_loss_batch_hard():
    x = torch.tensor([[0.0], [1.0], [1.5], [4.0]])
    outputs = {"descriptors": x, "targets": torch.tensor([0, 0, 1, 1]), "mixed_targets": None}
    # anchor 0: [1 - 1.5 + .3]_+ = 0; anchor 1: [1 - .5 + .3] = .8;
    # anchor 2: [2.5 - .5 + .3] = 2.3; anchor 3: [2.5 - 3 + .3]_+ = 0 -> mean 0.775
    assert TripletLoss(get_cfg())(outputs, {})["loss_triplet"].item() == pytest.approx(0.775, abs=1e-4)


def test_triplet_loss_without_negatives_is_zero():
    x = torch.tensor([[0.0], [1.0]], requires_grad=True)
    outputs = {"descriptors": x, "targets": torch.tensor([0, 0]), "mixed_targets": None}
    assert TripletLoss(get_cfg())(outputs, {})["loss_triplet"].item() == 0.0


def test_part_separation_loss():
    maps = torch.tensor([[[1.0, 0.0], [0.5, 0.5], [0.0, 1.0]], [[0.0, 0.0]] * 3]).view(2, 3, 1, 2)
    # image 0: <A1,A2> = .5, <A1,A3> = 0, <A2,A3> = .5; image 1: 0 -> 1.0 / (2 * 3) * 0.5
    term = PartSeparationLoss(get_cfg())({"part_maps": maps}, {})["loss_sep"]
    assert term.item() == pytest.approx(1.0 / 6 * 0.5, abs=1e-6)


def test_normalised_part_separation_is_the_mean_cosine_and_ignores_strength():
    cfg = get_cfg()
    cfg.MODEL.LOSSES.SEP.NORMALIZE = True
    cfg.MODEL.LOSSES.SEP.WEIGHT = 1.0
    maps = torch.tensor([[1.0, 1.0, 0.0], [1.0, 0.0, 0.0]]).view(1, 2, 1, 3)
    term = PartSeparationLoss(cfg)({"part_maps": maps}, {})["loss_sep"]
    assert term.item() == pytest.approx(1 / 2 ** 0.5, abs=1e-6)  # cos([1,1,0], [1,0,0])
    assert PartSeparationLoss(cfg)({"part_maps": 0.01 * maps}, {})["loss_sep"].item() == pytest.approx(term.item())


def test_part_separation_loss_without_maps():
    assert PartSeparationLoss(get_cfg())({"part_maps": None}, {}) == {}


def test_one_override_adds_removes_or_reweights_a_loss_in_declared_order():
    from partreid.modeling.losses import build_losses, enabled_loss_names

    cfg = get_cfg()
    assert enabled_loss_names(cfg) == ["IdentityLoss", "ModalitySpecificIDLoss", "ModalityLearningLoss",
                                       "CenterClusterLoss", "PartSeparationLoss"]
    cfg.merge_from_list(["MODEL.LOSSES.TRIPLET.ENABLED", "True", "MODEL.LOSSES.SID.ENABLED", "False",
                         "MODEL.LOSSES.CC.WEIGHT", "0.25"])
    losses = build_losses(cfg)
    assert [type(loss).__name__ for loss in losses] == ["IdentityLoss", "ModalityLearningLoss", "CenterClusterLoss",
                                                        "PartSeparationLoss", "TripletLoss"]
    assert [loss.weight for loss in losses] == [1.0, 2.5, 0.25, 0.5, 1.0]


def test_enabled_node_without_a_loss_is_an_error_naming_it():
    from partreid.config.config import CfgNode
    from partreid.modeling.losses import build_losses

    cfg = get_cfg()
    cfg.MODEL.LOSSES.ORPHAN = CfgNode({"ENABLED": True, "WEIGHT": 1.0})
    with pytest.raises(ValueError, match="MODEL.LOSSES.ORPHAN.ENABLED is True, but .* CONFIG_NODE = 'ORPHAN'"):
        build_losses(cfg)
    cfg.MODEL.LOSSES.ORPHAN = CfgNode({"WEIGHT": 1.0})
    with pytest.raises(ValueError, match="MODEL.LOSSES.ORPHAN has no ENABLED key"):
        build_losses(cfg)


class _SilentLoss:
    """Returns no term: stands for a loss whose inputs never arrive."""

    CONFIG_NODE = "SILENT"
    REQUIRED_OUTPUTS = ("silent_inputs",)

    def __init__(self, active_with_mixer):
        self.ACTIVE_WITH_MIXER = active_with_mixer

    def __call__(self, outputs, batch):
        return {}


def test_an_active_loss_that_returns_no_term_is_an_error_naming_it(tiny_cfg, tiny_batch):
    from partreid.modeling import build_model

    model = build_model(tiny_cfg).train()
    outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)
    model.losses, model.detach_maps_for = [*model.losses, _SilentLoss(False)], [*model.detach_maps_for, False]
    with pytest.raises(UserError, match=r"Loss _SilentLoss \(MODEL.LOSSES.SILENT.ENABLED True\) returned no term "
                                           r"although it acts on every batch: .*missing: silent_inputs"):
        model.losses_from(outputs, tiny_batch)
    model.losses[-1] = _SilentLoss(True)  # a loss that acts with the mixer may be silent before it acts
    assert "loss_id" in model.losses_from({**outputs, "mixer_acted": False}, tiny_batch)
    with pytest.raises(UserError, match="_SilentLoss .* returned no term on a batch the mixer acted on"):
        model.losses_from({**outputs, "mixer_acted": True}, tiny_batch)
