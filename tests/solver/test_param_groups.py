"""Parameter groups: each SOLVER key reaches its parameters, identical settings share a group,
and the default keys give the optimizer partreid had with one backbone and one other group."""
import pytest
import torch

from partreid.modeling.meta_arch.build import build_model
from partreid.solver import build_optimizer
from partreid.utils.testing import tiny_model_cfg


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    return build_model(tiny_model_cfg())


def hyperparams_by_name(optimizer, model):
    by_param = {id(p): (g["lr"], g["weight_decay"]) for g in optimizer.param_groups for p in g["params"]}
    return {name: by_param[id(p)] for name, p in model.named_parameters() if p.requires_grad}


def test_each_key_lands_on_its_parameters(tiny_model):
    cfg = tiny_model_cfg()
    cfg.merge_from_list(["SOLVER.BASE_LR", "1.0", "SOLVER.BACKBONE_LR_FACTOR", "0.5", "SOLVER.HEAD_LR_FACTOR", "4.0",
                         "SOLVER.BIAS_LR_FACTOR", "2.0", "SOLVER.WEIGHT_DECAY", "1e-4",
                         "SOLVER.WEIGHT_DECAY_NORM", "0.0", "SOLVER.WEIGHT_DECAY_BIAS", "3e-4"])
    opt = build_optimizer(cfg, tiny_model)
    hp = hyperparams_by_name(opt, tiny_model)
    assert hp["backbone.conv1.weight"] == (0.5, 1e-4)
    assert hp["backbone.bn1.weight"] == (0.5, 0.0)
    assert hp["backbone.bn1.bias"] == (1.0, 0.0)  # a norm bias: bias LR factor, norm weight decay
    assert hp["part_head.detector.weight"] == (4.0, 1e-4)
    assert hp["part_head.detector.bias"] == (8.0, 3e-4)  # a conv bias
    assert hp["bn_neck.weight"] == (4.0, 0.0)
    assert hp["classifier.weight"] == (4.0, 1e-4)
    # one group per distinct (lr, weight decay), every trainable parameter exactly once
    assert len(opt.param_groups) == len(set(hp.values()))
    assert sum(len(g["params"]) for g in opt.param_groups) == len(hp)


def previous_optimizer(cfg, model):
    """partreid's former build_optimizer (Adam): a backbone group and a group for the rest."""
    backbone, rest = [], []
    for name, p in model.named_parameters():
        if p.requires_grad:
            (backbone if name.startswith("backbone.") else rest).append(p)
    base_lr = cfg.SOLVER.BASE_LR
    groups = [{"params": backbone, "lr": base_lr * cfg.SOLVER.BACKBONE_LR_FACTOR}, {"params": rest, "lr": base_lr}]
    return torch.optim.Adam(groups, lr=base_lr, weight_decay=cfg.SOLVER.WEIGHT_DECAY)


def test_default_keys_train_exactly_like_the_previous_two_groups(tiny_model):
    cfg = tiny_model_cfg()
    cfg.merge_from_list(["SOLVER.BACKBONE_LR_FACTOR", "0.1", "SOLVER.WEIGHT_DECAY", "0.01"])
    models = [build_model(cfg) for _ in range(2)]
    models[1].load_state_dict(models[0].state_dict())
    new, old = build_optimizer(cfg, models[0]), previous_optimizer(cfg, models[1])
    assert [(g["lr"], g["weight_decay"]) for g in new.param_groups] == [(3.5e-4 * 0.1, 0.01), (3.5e-4, 0.01)]
    assert [{k: v for k, v in g.items() if k != "params"} for g in new.param_groups] == [
        {k: v for k, v in g.items() if k != "params"} for g in old.param_groups]
    # the same parameters in the same order (the optimizer state of old checkpoints loads by position)
    ids = {id(p): name for name, p in models[0].named_parameters()}
    ids.update({id(p): name for name, p in models[1].named_parameters()})
    assert [[ids[id(p)] for p in g["params"]] for g in new.param_groups] == [
        [ids[id(p)] for p in g["params"]] for g in old.param_groups]

    # two steps on the same gradients leave bitwise the same parameters
    initial = models[0].backbone.conv1.weight.detach().clone()
    for step in range(2):
        for model, opt in zip(models, (new, old)):
            g = torch.Generator().manual_seed(step)
            for p in model.parameters():
                p.grad = torch.randn(p.shape, generator=g) if p.requires_grad else None
            opt.step()
    for (name, a), b in zip(models[0].named_parameters(), models[1].parameters()):
        assert torch.equal(a, b), name
    assert not torch.equal(models[0].backbone.conv1.weight, initial)  # the steps did move the parameters


@pytest.mark.parametrize("key, value, message", [
    ("WEIGHT_DECAY_NORM", -0.5, "SOLVER.WEIGHT_DECAY_NORM must be >= 0, or -1"),
    ("HEAD_LR_FACTOR", -1.0, "SOLVER.HEAD_LR_FACTOR must be >= 0"),
])
def test_bad_values_name_their_key(tiny_model, key, value, message):
    cfg = tiny_model_cfg()
    cfg.SOLVER[key] = value
    with pytest.raises(ValueError, match=message):
        build_optimizer(cfg, tiny_model)
