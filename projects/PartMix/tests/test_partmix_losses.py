"""L_cont and L_aid against hand computations."""
import math

import pytest
import torch
import torch.nn.functional as F

from partmix import add_partmix_config
from partmix.losses import PartMixAuxIDLoss, PartMixContrastiveLoss
from partreid.config import get_cfg


def _cfg(temperature=0.5, cont_weight=0.5, aid_weight=0.25, cont_feature="pre_bn"):
    cfg = get_cfg()
    add_partmix_config(cfg)
    cfg.PARTMIX.CONT_FEATURE = cont_feature
    cfg.PARTMIX.TEMPERATURE = temperature
    cfg.MODEL.LOSSES.CONT.WEIGHT = cont_weight
    cfg.MODEL.LOSSES.AID.WEIGHT = aid_weight
    return cfg


def _cos(a, b):
    return sum(x * y for x, y in zip(a, b)) / math.sqrt(sum(x * x for x in a) * sum(y * y for y in b))


@pytest.mark.parametrize("cont_feature,suffix,anchor_key", [("pre_bn", "", "descriptors"),
                                                            ("bn", "_bn", "bn_descriptors")])
def test_contrastive_loss_equals_hand_computation_and_skips_masked_slots(cont_feature, suffix, anchor_key):
    anchors = [[1.0, 0.0], [0.0, 2.0], [1.0, 1.0]]
    positives = [[[1.0, 0.5], [0.5, 1.0]], [[1.0, 1.0], [9.0, 9.0]], [[1.0, 0.0], [0.0, 1.0]]]
    negatives = [[[0.0, 1.0], [-1.0, 0.2], [1.0, -1.0]], [[1.0, 0.0], [1.0, 3.0], [5.0, 5.0]], [[1.0, 2.0]] * 3]
    pos_mask = [[True, True], [True, False], [False, False]]  # anchor 2 has no positive: no term
    neg_mask = [[True, True, True], [True, True, False], [True, True, True]]
    tau, weight = 0.5, 0.5
    expected = []
    for i in range(2):
        pos = [math.exp(_cos(anchors[i], u) / tau) for u, ok in zip(positives[i], pos_mask[i]) if ok]
        neg = [math.exp(_cos(anchors[i], q) / tau) for q, ok in zip(negatives[i], neg_mask[i]) if ok]
        expected.append(-math.log(sum(pos) / (sum(pos) + sum(neg))))
    # the other space's tensors are decoys: the loss must not read them
    decoy = torch.full((3, 2), 7.0)
    outputs = {
        "descriptors": decoy, "bn_descriptors": decoy,
        "partmix_positives": decoy[:, None].expand(3, 2, 2), "partmix_positives_bn": decoy[:, None].expand(3, 2, 2),
        "partmix_negatives": decoy[:, None].expand(3, 3, 2), "partmix_negatives_bn": decoy[:, None].expand(3, 3, 2),
        "partmix_positive_mask": torch.tensor(pos_mask),
        "partmix_negative_mask": torch.tensor(neg_mask),
    }
    outputs[anchor_key] = torch.tensor(anchors, requires_grad=True)
    outputs["partmix_positives" + suffix] = torch.tensor(positives, requires_grad=True)
    outputs["partmix_negatives" + suffix] = torch.tensor(negatives, requires_grad=True)
    loss = PartMixContrastiveLoss(_cfg(tau, weight, cont_feature=cont_feature))(outputs, {})["loss_cont"]
    torch.testing.assert_close(loss, torch.tensor(weight * sum(expected) / 2))
    loss.backward()
    assert torch.isfinite(outputs[anchor_key].grad).all()
    assert outputs["partmix_positives" + suffix].grad[1, 1].abs().sum() == 0  # masked positive
    assert outputs["partmix_negatives" + suffix].grad[1, 2].abs().sum() == 0  # masked negative
    assert outputs[anchor_key].grad[2].abs().sum() == 0  # anchor without positives


def test_aux_id_loss_is_cross_entropy_of_valid_positives_with_the_anchor_label():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(3, 2, 5, generator=g, requires_grad=True)
    mask = torch.tensor([[True, True], [True, False], [False, True]])
    targets = torch.tensor([4, 0, 2])
    outputs = {"partmix_positive_logits": logits, "partmix_positive_mask": mask, "targets": targets}
    loss = PartMixAuxIDLoss(_cfg(aid_weight=0.25))(outputs, {})["loss_aid"]
    valid = [(0, 0), (0, 1), (1, 0), (2, 1)]
    expected = torch.stack([F.cross_entropy(logits[i, t][None], targets[i][None]) for i, t in valid]).mean()
    torch.testing.assert_close(loss, 0.25 * expected)
    loss.backward()
    assert logits.grad[1, 1].abs().sum() == 0 and logits.grad[0, 0].abs().sum() > 0


def test_losses_are_silent_without_partmix_outputs():
    warmup_outputs = {"descriptors": torch.zeros(2, 3), "targets": torch.zeros(2, dtype=torch.long)}
    assert PartMixContrastiveLoss(_cfg())(warmup_outputs, {}) == {}
    assert PartMixAuxIDLoss(_cfg())(warmup_outputs, {}) == {}
