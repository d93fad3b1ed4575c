"""ResNet backbone: shapes, last stride, modality alleviation, stage hooks, pretrained loading."""
import logging

import pytest
import torch
import torch.nn as nn
import torchvision

from partreid.modeling.backbone import ModalityAlleviation, ResNet
from partreid.modeling.backbone.pretrained import torchvision_cache_path, torchvision_weights


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
    assert "RANDOMLY" not in caplog.text and not [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert f"Loaded 120 backbone tensors from {path} (conv1, bn1, layer1, layer2, layer3, layer4)" in caplog.text
    assert "Kept at their initialisation (not part of ImageNet weights): modality_alleviation.4.gate.0.weight" in caplog.text


def test_torchvision_weights_resolve_in_the_hub_cache(tiny_cfg, tmp_path, monkeypatch, caplog):
    """torchvision://resnet18 is the IMAGENET1K_V1 file under <hub dir>/checkpoints, named as in
    its URL; found there, it loads without any download."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    cached = tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]
    assert torchvision_cache_path(torchvision_weights("torchvision://resnet18")) == str(cached)
    cached.parent.mkdir(parents=True)
    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), cached)
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = "torchvision://resnet18"
    with caplog.at_level(logging.INFO, logger="partreid.modeling.backbone"):
        backbone = ResNet(tiny_cfg)
    torch.testing.assert_close(backbone.layer2[0].conv1.weight, reference.layer2[0].conv1.weight)
    assert f"Loaded 120 backbone tensors from {cached}" in caplog.text
    v2 = torchvision_weights("torchvision://resnet50/IMAGENET1K_V2")
    assert v2 is torchvision.models.ResNet50_Weights.IMAGENET1K_V2
    with pytest.raises(ValueError, match="no weights 'IMAGENET9'.*IMAGENET1K_V1"):
        torchvision_weights("torchvision://resnet18/IMAGENET9")
    with pytest.raises(ValueError, match="no model 'resnet7'"):
        torchvision_weights("torchvision://resnet7")


def _no_network(*args, **kwargs):
    raise AssertionError(f"a test tried to download {args}")


def test_missing_torchvision_weights_say_how_to_get_them(tiny_cfg, tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = "torchvision://resnet18"
    with pytest.raises(FileNotFoundError) as err:
        ResNet(tiny_cfg)
    message = str(err.value)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    assert str(tmp_path / "hub" / "checkpoints" / url.rsplit("/", 1)[-1]) in message
    assert "MODEL.BACKBONE.ALLOW_DOWNLOAD True" in message and url in message


def test_allowed_download_fetches_once_with_progress(tiny_cfg, tmp_path, monkeypatch):
    """With ALLOW_DOWNLOAD the missing file is fetched (here: a fake fetch that writes it) into
    the cache, with a progress bar and the hash prefix of its name; the next build reuses it."""
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    calls = []

    def fake_download(url, dst, hash_prefix=None, progress=True):
        calls.append((url, hash_prefix, progress))
        torch.save(torchvision.models.resnet18(weights=None).state_dict(), dst)

    monkeypatch.setattr(torch.hub, "download_url_to_file", fake_download)
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = "torchvision://resnet18"
    tiny_cfg.MODEL.BACKBONE.ALLOW_DOWNLOAD = True
    ResNet(tiny_cfg)
    ResNet(tiny_cfg)
    url = torchvision.models.ResNet18_Weights.IMAGENET1K_V1.url
    assert calls == [(url, url.rsplit("-", 1)[-1].split(".")[0], True)]


def test_random_init_refused_unless_allowed_and_weights_replace_pretraining(tiny_cfg, caplog):
    tiny_cfg.MODEL.BACKBONE.ALLOW_RANDOM_INIT = False
    with pytest.raises(ValueError, match="ALLOW_RANDOM_INIT.*torchvision://resnet50"):
        ResNet(tiny_cfg)
    # MODEL.WEIGHTS replaces the backbone: neither ImageNet weights nor random init matter then
    tiny_cfg.MODEL.WEIGHTS = "output/model_final.pth"
    tiny_cfg.MODEL.BACKBONE.PRETRAIN_PATH = "torchvision://resnet18"
    with caplog.at_level(logging.INFO, logger="partreid.modeling.backbone.resnet"):
        ResNet(tiny_cfg)
    assert "PRETRAIN_PATH not loaded: MODEL.WEIGHTS=output/model_final.pth" in caplog.text


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


def test_paper_configs_start_from_imagenet_and_synthvi_from_scratch(tmp_path, monkeypatch):
    """Every shipped config on a real dataset names the ImageNet weights and refuses random
    init; the SynthVI configs train from scratch on purpose. Without the cached file a paper
    config stops with the clear error, before any training and without a download."""
    from pathlib import Path

    from partreid.config import setup_cfg
    from partreid.utils.testing import assert_configs_start_as_shipped

    repo = Path(__file__).resolve().parents[2]
    assert_configs_start_as_shipped(str(repo / "configs"))
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    monkeypatch.setattr(torch.hub, "download_url_to_file", _no_network)
    cfg = setup_cfg(str(repo / "configs" / "sysu_mm01_baseline.yaml"), ["MODEL.NUM_CLASSES", "4"])
    with pytest.raises(FileNotFoundError, match="resnet50-0676ba61.pth.*ALLOW_DOWNLOAD True"):
        ResNet(cfg)


def test_three_stages_give_finer_maps_and_load_imagenet_weights_without_layer4(tmp_path, caplog):
    reference = torchvision.models.resnet18(weights=None)
    path = tmp_path / "resnet18.pth"
    torch.save(reference.state_dict(), path)
    with caplog.at_level(logging.INFO, logger="partreid.modeling.backbone.resnet"):
        backbone = ResNet(depth=18, num_stages=3, pretrain_path=str(path)).eval()
    assert backbone.out_channels == 256 and not hasattr(backbone, "layer4")
    assert backbone(torch.randn(2, 3, 128, 64)).shape == (2, 256, 16, 8)  # stride 8 with the last stride 1
    torch.testing.assert_close(backbone.layer3[1].conv2.weight, reference.layer3[1].conv2.weight)
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]  # layer4.* is expected to go unused
    stages = []
    backbone(torch.randn(1, 3, 64, 32), hidden_hook=lambda stage, x: stages.append(stage) or x)
    assert stages == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="num_stages=2: expected 3 or 4"):
        ResNet(depth=18, num_stages=2)
    with pytest.raises(ValueError, match=r"modality_alleviation=\[4\]: expected stages among 1..3"):
        ResNet(depth=18, num_stages=3, modality_alleviation=[4])


def test_circular_padding_makes_the_backbone_equivariant_to_cyclic_shifts(tmp_path, caplog):
    """Zero padding tells the features where the border is; circular padding (convolutions and
    the stem's max pooling) leaves nothing that could: a cyclic shift by the stride moves the
    features by one cell, exactly. The padding mode changes no weight, so ImageNet weights load."""
    x = torch.randn(2, 3, 64, 32)
    errors = {}
    for mode in ("zeros", "circular"):
        torch.manual_seed(0)
        backbone = ResNet(depth=18, num_stages=3, padding_mode=mode).eval()  # stride 8
        with torch.no_grad():
            moved = backbone(torch.roll(x, 8, dims=-1)) - torch.roll(backbone(x), 1, dims=-1)
        errors[mode] = moved.abs().max().item()
        padded = [m for m in backbone.modules() if isinstance(m, nn.Conv2d) and m.padding != (0, 0)]
        assert padded and all(m.padding_mode == mode for m in padded)
    assert errors["circular"] < 1e-5 < 0.1 < errors["zeros"]
    path = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(weights=None).state_dict(), path)
    caplog.clear()
    with caplog.at_level(logging.INFO):
        ResNet(depth=18, pretrain_path=str(path), padding_mode="reflect")
    assert "backbone tensors from" in caplog.text and "missing" not in caplog.text
    with pytest.raises(ValueError, match="padding_mode='same': expected one of"):
        ResNet(depth=18, padding_mode="same")
