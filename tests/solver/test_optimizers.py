"""The OPTIMIZER registry: built-ins read their keys, a project's optimizer is built by name,
and an unknown name says which key and which names exist."""
import pytest
import torch

from partreid.solver import OPTIMIZER_REGISTRY, build_optimizer
from partreid.utils.testing import tiny_model_cfg


@OPTIMIZER_REGISTRY.register()
def RMSpropForTest(cfg, param_groups):
    """An optimizer registered from outside partreid, as a project would."""
    return torch.optim.RMSprop(param_groups, lr=cfg.SOLVER.BASE_LR, alpha=0.9)


def small_model():
    return torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.BatchNorm1d(4))


def test_a_registered_optimizer_is_built_by_name_with_the_param_groups():
    cfg = tiny_model_cfg()
    cfg.merge_from_list(["SOLVER.OPTIMIZER", "RMSpropForTest", "SOLVER.WEIGHT_DECAY_NORM", "0.0"])
    opt = build_optimizer(cfg, small_model())
    assert isinstance(opt, torch.optim.RMSprop) and opt.defaults["alpha"] == 0.9
    assert [(g["lr"], g["weight_decay"], len(g["params"])) for g in opt.param_groups] == [
        (3.5e-4, 5e-4, 2), (3.5e-4, 0.0, 2)]


def test_sgd_reads_momentum_and_nesterov():
    cfg = tiny_model_cfg()
    cfg.merge_from_list(["SOLVER.OPTIMIZER", "SGD", "SOLVER.MOMENTUM", "0.8", "SOLVER.NESTEROV", "True"])
    opt = build_optimizer(cfg, small_model())
    assert isinstance(opt, torch.optim.SGD)
    assert (opt.defaults["momentum"], opt.defaults["nesterov"]) == (0.8, True)


@pytest.mark.parametrize("name, cls", [("Adam", torch.optim.Adam), ("AdamW", torch.optim.AdamW)])
def test_adam_family(name, cls):
    cfg = tiny_model_cfg()
    cfg.SOLVER.OPTIMIZER = name
    assert type(build_optimizer(cfg, small_model())) is cls


def test_unknown_optimizer_names_the_key_and_the_choices():
    cfg = tiny_model_cfg()
    cfg.SOLVER.OPTIMIZER = "Adamax"
    with pytest.raises(KeyError, match=r"SOLVER.OPTIMIZER.*Registered: Adam, AdamW, RMSpropForTest, SGD"):
        build_optimizer(cfg, small_model())
