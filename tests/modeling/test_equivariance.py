"""Shifted views (PartBaseline, MODEL.EQUIVARIANCE) and PartEquivarianceLoss."""
import pytest
import torch

from partreid.config.configurable import ArgumentError
from partreid.modeling import build_model
from partreid.modeling.losses import PartEquivarianceLoss
from partreid.modeling.meta_arch.shifted_views import ShiftedViews, alternating_shifts, shift_images

# tiny_cfg: 64x32 images, ResNet-18 with last stride 1: 4x2 maps of stride 16
STRIDE = 16


def freeze_batch_norm(model):
    """Batch norm on running statistics, so that each image is described independently of the
    others in its batch (the views can then be checked one image at a time)."""
    for module in model.modules():
        if isinstance(module, torch.nn.modules.batchnorm._BatchNorm):
            module.eval()
    return model


def test_alternating_shifts_and_shift_images():
    assert alternating_shifts(3, 8).tolist() == [8, -8, 8]
    images = torch.arange(2 * 1 * 2 * 4, dtype=torch.float32).view(2, 1, 2, 4) + 1
    shifted = shift_images(images, torch.tensor([1, -2]))
    assert shifted[0, 0, 0].tolist() == [0, 1, 2, 3]
    assert shifted[1, 0, 1].tolist() == [15, 16, 0, 0]


def test_views_are_the_part_maps_of_the_images_and_of_their_shifted_copies(tiny_cfg, tiny_batch):
    tiny_cfg.MODEL.EQUIVARIANCE.SHIFT = STRIDE
    tiny_cfg.MODEL.EQUIVARIANCE.NUM_IMAGES = 3
    model = build_model(tiny_cfg).train()
    images = model.preprocess(tiny_batch["images"])
    outputs = model.training_outputs(images, tiny_batch)
    views = outputs["equivariance_views"]
    assert outputs["part_maps"].shape[0] == outputs["descriptors"].shape[0] == outputs["logits"].shape[0] == 8
    assert views.cells.tolist() == [1, -1, 1] and views.reference.shape == views.shifted.shape == (3, 2, 4, 2)
    torch.testing.assert_close(views.reference, outputs["part_maps"][:3], rtol=0, atol=0)
    # one forward over the batch and the copies: batch norm sees both
    together = torch.cat([images, shift_images(images[:3], torch.tensor([16, -16, 16]))])
    with torch.no_grad():
        expected = model.describe(together)["part_maps"]
    torch.testing.assert_close(views.shifted, expected[8:], rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(outputs["part_maps"], expected[:8], rtol=1e-5, atol=1e-6)


def test_under_hidden_mixing_the_reference_is_the_unmixed_images(tiny_cfg, tiny_batch):
    tiny_cfg.MODEL.EQUIVARIANCE.SHIFT = STRIDE
    tiny_cfg.MODEL.EQUIVARIANCE.NUM_IMAGES = 2
    tiny_cfg.MODEL.MIXER.NAME = "ManifoldMixUp"
    tiny_cfg.MODEL.MIXER.MANIFOLD_STAGES = [2]
    model = freeze_batch_norm(build_model(tiny_cfg).train())
    images = model.preprocess(tiny_batch["images"])
    outputs = model.training_outputs(images, dict(tiny_batch, iteration=1))
    assert outputs["mixed_targets"] is not None
    views = outputs["equivariance_views"]
    with torch.no_grad():
        clean = model.describe(images[:2])["part_maps"]
        shifted = model.describe(shift_images(images[:2], torch.tensor([16, -16])))["part_maps"]
    torch.testing.assert_close(views.reference, clean, rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(views.shifted, shifted, rtol=1e-5, atol=1e-6)
    assert not torch.allclose(outputs["part_maps"][:2], clean)  # the batch's own maps are of mixed features


def test_off_by_default_and_bad_shifts_are_named(tiny_cfg, tiny_batch):
    model = build_model(tiny_cfg).train()
    assert model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)["equivariance_views"] is None
    tiny_cfg.MODEL.EQUIVARIANCE.SHIFT = -8
    with pytest.raises(ArgumentError, match="MODEL.EQUIVARIANCE.SHIFT=-8"):
        build_model(tiny_cfg)
    for shift in (8, 32):  # not a multiple of the stride; the whole width
        tiny_cfg.MODEL.EQUIVARIANCE.SHIFT = shift
        model = build_model(tiny_cfg).train()
        with pytest.raises(ValueError, match=rf"MODEL.EQUIVARIANCE.SHIFT\)={shift}: expected a multiple of"):
            model.training_outputs(model.preprocess(tiny_batch["images"]), tiny_batch)


def test_loss_is_zero_for_maps_that_move_with_the_content_and_positive_for_templates():
    generator = torch.Generator().manual_seed(0)
    reference = torch.rand(2, 3, 4, 5, generator=generator)
    cells = torch.tensor([2, -1])
    following = torch.rand(2, 3, 4, 5, generator=generator)  # the uncovered columns are anything
    following[0, ..., 2:] = reference[0, ..., :3]
    following[1, ..., :4] = reference[1, ..., 1:]
    loss = PartEquivarianceLoss(weight=3.0)
    assert loss({"equivariance_views": ShiftedViews(reference, following, cells)}, {})["loss_equiv"] == 0
    # the term reads each map's distribution: scaling a view's maps changes nothing, so fading out
    # cannot lower it
    scaled = ShiftedViews(reference, following * torch.tensor([0.1, 2.0, 0.01]).view(1, 3, 1, 1), cells)
    assert loss({"equivariance_views": scaled}, {})["loss_equiv"] < 1e-6

    def distribution(maps):
        return maps / maps.sum(dim=(1, 2), keepdim=True)

    template = ShiftedViews(reference, reference.clone(), cells)
    expected = 3.0 * torch.stack([
        (distribution(reference[0, ..., :3]) - distribution(reference[0, ..., 2:])).abs().sum(dim=(1, 2)).mean(),
        (distribution(reference[1, ..., 1:]) - distribution(reference[1, ..., :4])).abs().sum(dim=(1, 2)).mean(),
    ]).mean()
    value = loss({"equivariance_views": template}, {})["loss_equiv"]
    assert value > 0.1
    torch.testing.assert_close(value, expected)


def test_loss_trains_the_part_head_and_says_when_it_has_no_views(tiny_cfg, tiny_batch, caplog):
    tiny_cfg.MODEL.LOSSES.NAMES = ["PartEquivarianceLoss"]
    model = build_model(tiny_cfg).train()
    with caplog.at_level("WARNING"):
        assert model(tiny_batch) == {} and model(tiny_batch) == {}
    assert sum("set MODEL.EQUIVARIANCE.SHIFT" in r.getMessage() for r in caplog.records) == 1
    tiny_cfg.MODEL.EQUIVARIANCE.SHIFT = STRIDE
    model = build_model(tiny_cfg).train()
    terms = model(tiny_batch)
    assert set(terms) == {"loss_equiv"} and terms["loss_equiv"] > 0
    terms["loss_equiv"].backward()
    assert model.part_head.detector.weight.grad.abs().sum() > 0
    assert model.backbone.layer1[0].conv1.weight.grad.abs().sum() > 0
