"""The PartMix mixer: mining against brute force, BN handling, seeding, gradients, config checks."""
import pytest
import torch
import torch.nn as nn
import torch.nn.functional as F

from partmix import add_partmix_config
from partmix.losses import PartMixAuxIDLoss, PartMixContrastiveLoss
from partmix.mixer import PartMix
from partreid.config import get_cfg
from partreid.modeling.mixers import build_mixer

M, C, K = 3, 4, 6
TARGETS = torch.tensor([0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2])
MODALITIES = torch.tensor([0, 0, 1, 1] * 3)
N = len(TARGETS)


def _cfg(**partmix):
    cfg = get_cfg()
    add_partmix_config(cfg)
    cfg.MODEL.MIXER.NAME = "PartMix"
    cfg.MODEL.PART_HEAD.NUM_PARTS = M
    for key, value in partmix.items():
        cfg.PARTMIX[key] = value
    return cfg


class _Head(nn.Module):
    """The parts of the meta-arch contract the mixer touches: bn_neck, classifier, num_parts."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.num_parts = M
        self.bn_neck = nn.BatchNorm1d((M + 1) * C)
        self.classifier = nn.Linear((M + 1) * C, K, bias=False)
        with torch.no_grad():
            self.bn_neck.weight.uniform_(0.5, 1.5)
            self.classifier.weight.mul_(4.0)


def _outputs(model, seed=0):
    g = torch.Generator().manual_seed(seed)
    parts = torch.randn(N, M, C, generator=g, requires_grad=True)
    global_desc = torch.randn(N, C, generator=g, requires_grad=True)
    descriptors = torch.cat([parts.flatten(1), global_desc], dim=1)
    bn_descriptors = model.bn_neck(descriptors)
    return {
        "part_descriptors": parts,
        "global_descriptor": global_desc,
        "descriptors": descriptors,
        "bn_descriptors": bn_descriptors,
        "logits": model.classifier(bn_descriptors),
        "targets": TARGETS,
        "modalities": MODALITIES,
        "mixed_targets": None,
    }


def _all_candidates(outputs):
    """Every single-part candidate built explicitly: (N, N, M, D), [i, j, r] = d_i with part r of j."""
    parts, global_desc = outputs["part_descriptors"].detach(), outputs["global_descriptor"].detach()
    out = torch.empty(N, N, M, (M + 1) * C)
    for i in range(N):
        for j in range(N):
            for r in range(M):
                mixed = parts[i].clone()
                mixed[r] = parts[j, r]
                out[i, j, r] = torch.cat([mixed.flatten(), global_desc[i]])
    return out


def _necked(model, x, descriptors):
    d = descriptors.detach()
    necked = (x - d.mean(0)) / torch.sqrt(d.var(0, unbiased=False) + model.bn_neck.eps)
    return necked * model.bn_neck.weight + model.bn_neck.bias


def _rows_of(selected, candidates):
    """Index (into the flattened N*M candidates of the anchor) of each selected descriptor."""
    dist = (selected[:, None, :] - candidates[None, :, :]).abs().amax(dim=-1)
    assert (dist.min(dim=1).values < 1e-5).all(), "a selected descriptor is not one of the candidates"
    return dist.argmin(dim=1)


def test_mixer_is_registered_and_built_from_config():
    assert isinstance(build_mixer(_cfg()), PartMix)


def test_entropy_mining_keeps_lowest_entropy_positives_and_highest_entropy_negatives():
    model = _Head().train()
    outputs = _outputs(model)
    mixed = build_mixer(_cfg(NUM_POS=2, NUM_NEG=5)).mix_descriptors(outputs, {}, model)
    candidates = _all_candidates(outputs)
    with torch.no_grad():
        logp = F.log_softmax(model.classifier(_necked(model, candidates, outputs["descriptors"])), dim=-1)
        entropy = -(logp.exp() * logp).sum(-1)  # (N, N, M)
    same_id = TARGETS[:, None] == TARGETS[None, :]
    for i in range(N):
        pos_allowed = (same_id[i] & (torch.arange(N) != i))[:, None].expand(N, M).reshape(-1)
        neg_allowed = (~same_id[i])[:, None].expand(N, M).reshape(-1)
        flat_entropy = entropy[i].reshape(-1)
        expected_pos = flat_entropy.masked_fill(~pos_allowed, float("inf")).topk(2, largest=False).indices
        expected_neg = flat_entropy.masked_fill(~neg_allowed, float("-inf")).topk(5).indices
        got_pos = _rows_of(mixed["partmix_positives"][i].detach(), candidates[i].reshape(N * M, -1))
        got_neg = _rows_of(mixed["partmix_negatives"][i].detach(), candidates[i].reshape(N * M, -1))
        assert got_pos.tolist() == expected_pos.tolist()
        assert got_neg.tolist() == expected_neg.tolist()
    assert mixed["partmix_positive_mask"].all() and mixed["partmix_negative_mask"].all()


def test_similarity_mining_keeps_least_similar_positives_and_most_similar_negatives():
    model = _Head().train()
    outputs = _outputs(model, seed=1)
    mixed = build_mixer(_cfg(MINING="similarity", NUM_POS=1, NUM_NEG=3)).mix_descriptors(outputs, {}, model)
    candidates = _all_candidates(outputs)
    anchors = outputs["descriptors"].detach()
    cos = F.cosine_similarity(anchors[:, None, None, :], candidates, dim=-1)
    same_id = TARGETS[:, None] == TARGETS[None, :]
    for i in range(N):
        pos_cos = cos[i].masked_fill(~(same_id[i] & (torch.arange(N) != i))[:, None], float("inf"))
        neg_cos = cos[i].masked_fill(same_id[i][:, None], float("-inf"))
        got_pos = _rows_of(mixed["partmix_positives"][i].detach(), candidates[i].reshape(N * M, -1))
        got_neg = _rows_of(mixed["partmix_negatives"][i].detach(), candidates[i].reshape(N * M, -1))
        assert got_pos.tolist() == pos_cos.reshape(-1).topk(1, largest=False).indices.tolist()
        assert got_neg.tolist() == neg_cos.reshape(-1).topk(3).indices.tolist()


def test_fewer_candidates_than_requested_are_masked_out():
    model = _Head().train()
    # INTER only: 2 other-modality images of the same id x M parts = 6 positives per anchor
    mixed = build_mixer(_cfg(INTRA=False, NUM_POS=10, NUM_NEG=4)).mix_descriptors(_outputs(model), {}, model)
    assert mixed["partmix_positives"].shape == (N, 10, (M + 1) * C)
    assert mixed["partmix_positive_mask"].sum(dim=1).tolist() == [2 * M] * N
    assert mixed["partmix_negative_mask"].all()


def test_positive_logits_use_the_real_batch_statistics_and_leave_running_stats_alone():
    model = _Head().train()
    outputs = _outputs(model)
    running_mean, running_var = model.bn_neck.running_mean.clone(), model.bn_neck.running_var.clone()
    mixed = build_mixer(_cfg()).mix_descriptors(outputs, {}, model)
    necked_pos = _necked(model, mixed["partmix_positives"], outputs["descriptors"])
    torch.testing.assert_close(mixed["partmix_positives_bn"], necked_pos)
    torch.testing.assert_close(mixed["partmix_negatives_bn"],
                               _necked(model, mixed["partmix_negatives"], outputs["descriptors"]))
    torch.testing.assert_close(mixed["partmix_positive_logits"], model.classifier(necked_pos))
    assert torch.equal(model.bn_neck.running_mean, running_mean)
    assert torch.equal(model.bn_neck.running_var, running_var)


def test_random_mining_is_seeded():
    model = _Head().train()

    def picks(seed):
        cfg = _cfg(MINING="random", NUM_SWAP=2)
        cfg.SEED = seed
        return build_mixer(cfg).mix_descriptors(_outputs(model), {}, model)["partmix_negatives"]

    assert torch.equal(picks(3), picks(3))
    assert not torch.equal(picks(3), picks(4))


def test_num_swap_candidates_swap_that_many_parts():
    model = _Head().train()
    outputs = _outputs(model)
    mixed = build_mixer(_cfg(NUM_SWAP=2, MINING="random")).mix_descriptors(outputs, {}, model)
    parts = outputs["part_descriptors"].detach()
    for i in range(N):
        for x in mixed["partmix_negatives"][i].detach():
            changed = (x[: M * C].view(M, C) != parts[i]).any(dim=1)
            assert changed.sum().item() == 2
            torch.testing.assert_close(x[M * C :], outputs["global_descriptor"][i].detach())


def test_losses_send_gradients_to_anchors_and_donors():
    cfg = _cfg(NUM_POS=2, NUM_NEG=4)
    model = _Head().train()
    outputs = _outputs(model)
    outputs.update(build_mixer(cfg).mix_descriptors(outputs, {}, model))
    terms = {**PartMixContrastiveLoss(cfg)(outputs, {}), **PartMixAuxIDLoss(cfg)(outputs, {})}
    assert set(terms) == {"loss_cont", "loss_aid"}
    sum(terms.values()).backward()
    parts_grad = outputs["part_descriptors"].grad
    assert torch.isfinite(parts_grad).all() and (parts_grad.abs().sum(dim=(1, 2)) > 0).all()
    assert (outputs["global_descriptor"].grad.abs().sum(dim=1) > 0).all()
    assert model.classifier.weight.grad.abs().sum() > 0 and model.bn_neck.weight.grad.abs().sum() > 0


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("NUM_SWAP", M + 1, "PARTMIX.NUM_SWAP"),
        ("MIX_GLOBAL", "max", "PARTMIX.MIX_GLOBAL"),
        ("MINING", "hard", "PARTMIX.MINING"),
        ("NUM_POS", 0, "PARTMIX.NUM_POS"),
        ("TEMPERATURE", 0.0, "PARTMIX.TEMPERATURE"),
        ("INTER", False, "PARTMIX.INTER and PARTMIX.INTRA"),
    ],
)
def test_bad_config_is_rejected_with_the_key(key, value, message):
    cfg = _cfg(**{key: value})
    if key == "INTER":
        cfg.PARTMIX.INTRA = False
    with pytest.raises(ValueError, match=message):
        PartMix(cfg)


def test_missing_partmix_node_is_explained():
    cfg = get_cfg()
    cfg.MODEL.MIXER.NAME = "PartMix"
    with pytest.raises(KeyError, match="PARTMIX"):
        build_mixer(cfg)
