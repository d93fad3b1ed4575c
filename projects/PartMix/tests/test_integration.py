"""PartMix inside the real PartBaseline meta-arch, and the shipped YAMLs."""
from pathlib import Path

import pytest
import torch

from partreid.config.config import setup_cfg
from partreid.modeling.meta_arch.build import build_model
from partreid.modeling.part_heads.build import build_part_head
from partreid.utils.testing import toy_training_batch

CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def _tiny_model(mixer="PartMix"):
    cfg = setup_cfg(
        str(CONFIG_DIR / "synthvi_partmix.yaml"),
        ["MODEL.NUM_CLASSES", 4, "MODEL.DEVICE", "cpu", "MODEL.MIXER.NAME", mixer, "PARTMIX.NUM_NEG", 6],
    )
    torch.manual_seed(0)
    return build_model(cfg).train(), cfg


def test_partmix_terms_appear_after_the_warmup_and_train_the_backbone():
    model, cfg = _tiny_model()
    warmup = model(toy_training_batch(epoch=0))
    assert "loss_cont" not in warmup and "loss_aid" not in warmup
    terms = model(toy_training_batch(epoch=cfg.MODEL.MIXER.START_EPOCH))
    assert {"loss_cont", "loss_aid", "loss_id"} <= set(terms)
    assert all(torch.isfinite(v) for v in terms.values())
    (terms["loss_cont"] + terms["loss_aid"]).backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0
    assert model.part_head.training  # untouched by the mixer


def test_mixer_outputs_follow_the_contract():
    model, cfg = _tiny_model()
    batch = toy_training_batch(epoch=cfg.MODEL.MIXER.START_EPOCH)
    outputs = model.training_outputs(model.preprocess(batch["images"]), batch)
    dim = model.feature_dim
    assert outputs["partmix_positives"].shape == (8, cfg.PARTMIX.NUM_POS, dim)
    assert outputs["partmix_negatives"].shape == (8, cfg.PARTMIX.NUM_NEG, dim)
    assert outputs["partmix_positive_logits"].shape == (8, cfg.PARTMIX.NUM_POS, 4)


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIG_DIR.glob("*.yaml")))
def test_shipped_configs_load(name):
    cfg = setup_cfg(str(CONFIG_DIR / name), freeze=False)
    assert "partmix" in cfg.PROJECTS
    build_part_head(cfg, in_channels=8)  # its keys agree with each other (e.g. one row-prior value per part)
    partmix_losses = {"PartMixContrastiveLoss", "PartMixAuxIDLoss"} & set(cfg.MODEL.LOSSES.NAMES)
    if cfg.MODEL.MIXER.NAME == "PartMix":
        assert len(partmix_losses) == 2
    else:
        assert not partmix_losses  # the comparisons train with the baseline's losses only


def test_sysu_config_resolves_to_the_supplementary_recipe():
    cfg = setup_cfg(str(CONFIG_DIR / "sysu_partmix.yaml"), freeze=False)
    assert cfg.MODEL.MIXER.NAME == "PartMix" and cfg.MODEL.MIXER.START_EPOCH == 20
    assert cfg.MODEL.BACKBONE.DEPTH == 50 and list(cfg.INPUT.SIZE_TRAIN) == [384, 128]
    assert (cfg.DATALOADER.NUM_IDENTITIES, cfg.DATALOADER.NUM_INSTANCES) == (16, 8)
    assert (cfg.SOLVER.OPTIMIZER, cfg.SOLVER.BASE_LR, cfg.SOLVER.WEIGHT_DECAY) == ("Adam", 3.5e-4, 5e-4)
    assert cfg.SOLVER.MAX_EPOCHS == 120 and list(cfg.SOLVER.STEPS) == [80, 120]
    assert (cfg.PARTMIX.NUM_POS, cfg.PARTMIX.NUM_NEG, cfg.PARTMIX.CONT_WEIGHT, cfg.PARTMIX.AID_WEIGHT) == (2, 20, 0.5, 0.5)
