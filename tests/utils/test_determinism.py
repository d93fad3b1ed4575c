"""DETERMINISTIC can fail: on CUDA an op without a deterministic kernel raises (no warn_only),
cuBLAS's workspace is set before CUDA starts or the run is refused, and the model's ops
without a deterministic CUDA backward are replaced by equal ones or refused with the key
named. CUDA is mocked: these run on the CPU."""
import os
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from partreid.modeling import build_model
from partreid.modeling.meta_arch.build import check_deterministic_backward
from partreid.modeling.part_heads.stripes import stripe_means
from partreid.utils import env
from partreid.utils.testing import tiny_model_cfg


@pytest.fixture
def restore_determinism(monkeypatch):
    monkeypatch.delenv("CUBLAS_WORKSPACE_CONFIG", raising=False)
    yield
    torch.use_deterministic_algorithms(False)
    torch.backends.cudnn.deterministic = False


def test_cuda_determinism_raises_instead_of_warning(restore_determinism):
    with mock.patch.object(torch.cuda, "is_initialized", return_value=False):
        line = env.configure_determinism(True, True, "cuda")
    assert torch.are_deterministic_algorithms_enabled()
    assert not torch.is_deterministic_algorithms_warn_only_enabled()
    assert "raises" in line and ":4096:8" in line
    assert os.environ["CUBLAS_WORKSPACE_CONFIG"] == ":4096:8"


def test_cublas_workspace_after_cuda_started_is_refused(restore_determinism):
    with mock.patch.object(torch.cuda, "is_initialized", return_value=True):
        with pytest.raises(RuntimeError, match="CUBLAS_WORKSPACE_CONFIG.*before CUDA starts"):
            env.configure_determinism(True, True, "cuda")
    assert "CUBLAS_WORKSPACE_CONFIG" not in os.environ


def test_an_exported_workspace_is_kept_even_after_cuda_started(restore_determinism, monkeypatch):
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":16:8")
    with mock.patch.object(torch.cuda, "is_initialized", return_value=True):
        assert env.configure_cublas_workspace() == ":16:8"


def test_default_setup_configures_determinism_before_cuda_starts(tmp_path, restore_determinism):
    """default_setup sets the workspace before collect_env_info, the first thing that starts CUDA."""
    from partreid.engine import defaults

    cfg = tiny_model_cfg()
    cfg.OUTPUT_DIR = str(tmp_path)
    cfg.DETERMINISTIC = True
    order = []
    started = {"cuda": False}

    def collect_env_info():
        started["cuda"] = True
        order.append("env info")
        return ""

    def configure(*args):
        order.append(("determinism", started["cuda"]))
        return ""

    with mock.patch.object(defaults, "collect_env_info", collect_env_info), \
            mock.patch.object(defaults, "configure_determinism", configure):
        defaults.default_setup(cfg)
    assert order == [("determinism", False), "env info"]


def test_cpu_determinism_keeps_warning_mode(restore_determinism):
    env.configure_determinism(True, True, "cpu")
    assert torch.are_deterministic_algorithms_enabled() and torch.is_deterministic_algorithms_warn_only_enabled()


@pytest.mark.parametrize("height", [12, 13, 7])  # 6 parts: divisible, and two uneven splits
def test_stripe_means_equal_adaptive_pooling_forward_and_backward(height):
    x = torch.randn(2, 5, height, 3, dtype=torch.float64, requires_grad=True)
    upstream = torch.randn(2, 6, 5, dtype=torch.float64)
    reference = F.adaptive_avg_pool2d(x, (6, 1)).flatten(2).transpose(1, 2)
    (grad_reference,) = torch.autograd.grad(reference, x, upstream)
    replaced = stripe_means(x, 6)
    (grad_replaced,) = torch.autograd.grad(replaced, x, upstream)
    torch.testing.assert_close(replaced, reference)
    torch.testing.assert_close(grad_replaced, grad_reference)


def test_modality_gate_pooling_equals_adaptive_pooling_forward_and_backward():
    cfg = tiny_model_cfg()
    cfg.MODEL.BACKBONE.MODALITY_ALLEVIATION = [3]
    block = build_model(cfg).backbone.modality_alleviation["3"]
    x = torch.randn(2, block.instance_norm.num_features, 4, 2, requires_grad=True)
    got = block(x)
    mask = block.gate(F.adaptive_avg_pool2d(x, 1))
    expected = x * mask + block.instance_norm(x) * (1 - mask)
    torch.testing.assert_close(got, expected)
    upstream = torch.randn_like(got)
    torch.testing.assert_close(torch.autograd.grad(got, x, upstream)[0], torch.autograd.grad(expected, x, upstream)[0])


def test_reflect_padding_is_refused_on_cuda_with_the_key_named():
    cfg = tiny_model_cfg()
    cfg.MODEL.BACKBONE.PADDING_MODE = "reflect"
    model = build_model(cfg)
    check_deterministic_backward(model, "cpu")  # the CPU has no such restriction
    with pytest.raises(ValueError, match="MODEL.BACKBONE.PADDING_MODE='reflect'"):
        check_deterministic_backward(model, "cuda")
    for mode in ("zeros", "replicate", "circular"):
        cfg.MODEL.BACKBONE.PADDING_MODE = mode
        check_deterministic_backward(build_model(cfg), "cuda")


def test_a_module_without_deterministic_backward_is_refused_by_name():
    model = torch.nn.Sequential(torch.nn.Conv2d(3, 3, 1), torch.nn.AdaptiveAvgPool2d(1))
    with pytest.raises(ValueError, match=r"module 1 \(AdaptiveAvgPool2d\)"):
        check_deterministic_backward(model, "cuda")
