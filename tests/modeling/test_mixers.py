"""Mixer arithmetic: NoMix identity, MixUp convex combination, CutMix box and label weight,
Manifold MixUp at the chosen stage, and seeded reproducibility."""
import pytest
import torch

from partreid.config import get_cfg
from partreid.modeling import build_model
from partreid.modeling.mixers import CutMix, ManifoldMixUp, MixUp, NoMix
from partreid.modeling.mixers.base import draw_beta


def _batch(n):
    return {"targets": torch.arange(n) + 10}


def test_no_mix_is_identity():
    mixer = NoMix(get_cfg())
    images = torch.randn(4, 3, 8, 4)
    mixed, targets = mixer.mix_images(images, _batch(4))
    assert mixed is images and targets is None
    assert mixer.hidden_stage() is None
    assert mixer.mix_descriptors({}, {}, None) == {}


def test_mixup_is_a_convex_combination_with_one_lam_per_batch():
    images = torch.randn(6, 3, 8, 4)
    mixed, mt = MixUp(get_cfg()).mix_images(images, _batch(6))
    lam = mt.lam[0].item()
    assert 0.0 <= lam <= 1.0 and torch.all(mt.lam == lam)
    assert torch.equal(mt.targets_a, torch.arange(6) + 10)
    partner = mt.targets_b - 10  # targets are unique, so targets_b reveals the permutation
    assert sorted(partner.tolist()) == list(range(6))
    torch.testing.assert_close(mixed, lam * images + (1 - lam) * images[partner])


def test_mixers_are_reproducible_from_seed_and_iteration():
    images = torch.randn(6, 3, 8, 4)
    cfg = get_cfg()
    first, second = MixUp(cfg), MixUp(cfg)
    for mixer in (first, second):
        mixer.reseed(7)
    a, mta = first.mix_images(images, _batch(6))
    b, mtb = second.mix_images(images, _batch(6))
    assert torch.equal(a, b) and torch.equal(mta.targets_b, mtb.targets_b)
    cfg.SEED = 1
    other = MixUp(cfg)
    other.reseed(7)
    c, _ = other.mix_images(images, _batch(6))
    assert not torch.equal(a, c)


def test_draw_beta_matches_beta_moments():
    generator = torch.Generator().manual_seed(0)
    draws = torch.tensor([draw_beta(0.5, generator) for _ in range(4000)])
    # Beta(a, a): mean 1/2, variance 1 / (4 (2a + 1)) = 1/8 for a = 0.5
    assert draws.mean().item() == pytest.approx(0.5, abs=0.03)
    assert draws.var().item() == pytest.approx(0.125, abs=0.01)


def test_cutmix_pastes_one_box_and_weights_labels_by_its_area():
    n, height, width = 5, 16, 8
    images = torch.arange(n, dtype=torch.float32).view(n, 1, 1, 1).expand(n, 3, height, width).contiguous()
    cfg = get_cfg()
    mixer = CutMix(cfg)
    seen_partial_box = False
    for iteration in range(20):
        mixer.reseed(iteration)
        mixed, mt = mixer.mix_images(images, _batch(n))
        partner = mt.targets_b - 10
        box = mixed[:, 0] != images[:, 0]  # pixels taken from the partner (where it differs)
        pasted = box[partner != torch.arange(n)]
        if len(pasted) == 0:
            continue
        region = pasted[0]
        rows, cols = region.any(1), region.any(0)
        area = int(region.sum())
        assert area == int(rows.sum()) * int(cols.sum())  # a rectangle
        assert torch.equal(pasted, region.expand_as(pasted))  # the same box in every image
        for i in range(n):
            torch.testing.assert_close(mixed[i, :, region], images[partner[i], :, region])
        torch.testing.assert_close(mt.lam, torch.full((n,), 1 - area / (height * width)))
        seen_partial_box |= 0 < area < height * width
    assert seen_partial_box


def test_manifold_mixup_stage_draw_and_validation():
    cfg = get_cfg()
    cfg.MODEL.MIXER.MANIFOLD_STAGES = [1, 3]
    mixer = ManifoldMixUp(cfg)
    assert {mixer.hidden_stage() for _ in range(50)} == {1, 3}
    cfg.MODEL.MIXER.MANIFOLD_STAGES = [5]
    with pytest.raises(ValueError, match="MANIFOLD_STAGES"):
        ManifoldMixUp(cfg)


def test_manifold_mixup_mixes_the_chosen_stage(tiny_cfg, tiny_batch):
    tiny_cfg.MODEL.NUM_CLASSES = 8
    tiny_cfg.MODEL.MIXER.NAME = "ManifoldMixUp"
    tiny_cfg.MODEL.MIXER.MANIFOLD_STAGES = [2]
    tiny_batch["targets"] = torch.arange(8)  # unique labels: targets_b reveals the partners
    model = build_model(tiny_cfg)
    seen = []
    original = model.mixer.mix_hidden

    def recording_mix_hidden(features, batch):
        mixed, mt = original(features, batch)
        seen.append((features, mixed, mt))
        return mixed, mt

    model.mixer.mix_hidden = recording_mix_hidden
    outputs = model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)
    assert len(seen) == 1
    features, mixed, mt = seen[0]
    assert features.shape == (8, 128, 8, 4)  # ResNet-18 layer2 output at 64x32
    lam = mt.lam[0].item()
    torch.testing.assert_close(mixed, lam * features + (1 - lam) * features[mt.targets_b])
    assert outputs["mixed_targets"] is mt
