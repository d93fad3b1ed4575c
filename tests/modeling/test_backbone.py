"""ResNet backbone: shapes, last stride, modality alleviation, stage hooks, pretrained loading."""
import logging

import pytest
import torch
import torch.nn as nn
import torchvision

from partreid.modeling.backbone import ModalityAlleviation, ResNet


@pytest.mark.parametrize("last_stride, size", [(1, (4, 2)), (2, (2, 1))])
def test_output_shape_follows_last_stride(tiny_cfg, last_stride, size):
    tiny_cfg.MODEL.BACKBONE.LAST_STRIDE = last_stride
    backbone = ResNet(tiny_cfg).eval()
    assert backbone.out_channels == 512
    assert backbone(torch.randn(2, 3, 64, 32)).shape == (2, 512, *size)


def test_resnet50_out_channels(tiny_cfg):
    tiny_cfg.MODEL.BACKBONE.DEPTH = 50
    backbone = ResNet(tiny_cfg).eval()
    assert backbone.out_channels == 2048
    assert backbone(torch.randn(1, 3, 64, 32)).shape == (1, 2048, 4, 2)


def test_modality_alleviation_after_chosen_stages(tiny_cfg):
    tiny_cfg.MODEL.BACKBONE.MODALITY_ALLEVIATION = [3, 4]
    backbone = ResNet(tiny_cfg).eval()
    assert sorted(backbone.modality_alleviation.keys()) == ["3", "4"]
    assert backbone.modality_alleviation["3"].gate[0].in_channels == 256
    assert backbone(torch.randn(2, 3, 64, 32)).shape == (2, 512, 4, 2)


def test_modality_alleviation_blends_input_and_instance_norm():
    module = ModalityAlleviation(32)
    nn.init.zeros_(module.gate[2].weight)  # gate = sigmoid(0) = 1/2 everywhere
    x = torch.randn(2, 32, 4, 3) * 3 + 1
    mean = x.mean(dim=(2, 3), keepdim=True)
    std = x.var(dim=(2, 3), unbiased=False, keepdim=True).add(1e-5).sqrt()
    torch.testing.assert_close(module(x), 0.5 * x + 0.5 * (x - mean) / std, atol=1e-5, rtol=1e-5)


def test_bad_config_values_are_named(tiny_cfg):
    tiny_cfg.MODEL.BACKBONE.DEPTH = 152
    with pytest.raises(ValueError, match="MODEL.BACKBONE.DEPTH"):
        ResNet(tiny_cfg)
    tiny_cfg.MODEL.BACKBONE.DEPTH = 18
    tiny_cfg.MODEL.BACKBONE.MODALITY_ALLEVIATION = [5]
    with pytest.raises(ValueError, match="MODALITY_ALLEVIATION"):
        ResNet(tiny_cfg)


def test_hidden_hook_sees_every_stage_and_can_replace_features(tiny_cfg):
    backbone = ResNet(tiny_cfg).eval()
    seen = []

    def hook(stage, x):
        seen.append((stage, x.shape[1]))
        return torch.zeros_like(x) if stage == 4 else x

    out = backbone(torch.randn(1, 3, 64, 32), hidden_hook=hook)
    assert seen == [(0, 64), (1, 64), (2, 128), (3, 256), (4, 512)]
    assert out.abs().sum() == 0


def test_missing_pretrain_path_warns(tiny_cfg, caplog):
    with caplog.at_level(logging.WARNING, logger="partreid.modeling.backbone.resnet"):
        ResNet(tiny_cfg)
    assert "RANDOMLY INITIALISED" in caplog.text


def test_loads_torchvision_state_dict(tiny_cfg, tmp_path, caplog):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = str(path)
    tiny_cfg.MODEL.BACKBONE.MODALITY_ALLEVIATION = [4]
    with caplog.at_level(logging.INFO, logger="partreid.modeling.backbone.resnet"):
        backbone = ResNet(tiny_cfg)
    torch.testing.assert_close(backbone.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    torch.testing.assert_close(backbone.bn1.running_var, reference.bn1.running_var)
    assert "RANDOMLY" not in caplog.text and "missing" not in caplog.text  # fc and the new module are expected


def test_pretrain_path_errors(tiny_cfg, tmp_path):
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = str(tmp_path / "absent.pth")
    with pytest.raises(FileNotFoundError, match="absent.pth"):
        ResNet(tiny_cfg)
    wrong = tmp_path / "wrong.pth"
    torch.save({"model": {"conv1.weight": torch.zeros(1)}}, wrong)
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = str(wrong)
    with pytest.raises(ValueError, match="wrong.pth"):
        ResNet(tiny_cfg)
    mismatched = tmp_path / "resnet50.pth"
    torch.save(torchvision.models.resnet50(weights=None).state_dict(), mismatched)
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = str(mismatched)
    with pytest.raises(ValueError, match="does not fit"):
        ResNet(tiny_cfg)
