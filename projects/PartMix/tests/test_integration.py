"""PartMix inside the real PartBaseline meta-arch, and the shipped YAMLs."""
from pathlib import Path

import pytest
import torch

from partreid.config.config import setup_cfg
from partreid.modeling.losses import build_losses, enabled_loss_names
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
    partmix_losses = {"PartMixContrastiveLoss", "PartMixAuxIDLoss"} & set(enabled_loss_names(cfg))
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
    assert (cfg.PARTMIX.NUM_POS, cfg.PARTMIX.NUM_NEG) == (2, 20)
    assert (cfg.MODEL.LOSSES.CONT.WEIGHT, cfg.MODEL.LOSSES.AID.WEIGHT) == (0.5, 0.5)


# The losses every shipped PartMix YAML built when MODEL.LOSSES.NAMES listed them and PARTMIX held
# the weights (VERSION 3): class, weight, in the order the trainer sums their terms.
_CORE = [("IdentityLoss", 1.0), ("ModalitySpecificIDLoss", 1.0), ("ModalityLearningLoss", 2.5),
         ("CenterClusterLoss", 1.0), ("PartSeparationLoss", 0.5)]
_SYNTHVI_CORE = [("IdentityLoss", 1.0), ("ModalitySpecificIDLoss", 0.5), ("ModalityLearningLoss", 2.5),
                 ("CenterClusterLoss", 1.0), ("PartSeparationLoss", 0.5)]
_PARTMIX = [("PartMixContrastiveLoss", 0.5), ("PartMixAuxIDLoss", 0.5)]
_DISCOVERY = [("PartIdentityLoss", 1.0), ("PartConcentrationLoss", 2.0)]
SHIPPED_LOSSES = {
    **dict.fromkeys(["Base-PartMix.yaml", "llcm_partmix.yaml", "regdb_partmix.yaml", "sysu_partmix.yaml",
                     "sysu_partmix_140ep.yaml"], _CORE + _PARTMIX),
    "sysu_baseline.yaml": _CORE,
    **dict.fromkeys(["Base-SynthVI.yaml", "synthvi_partmix.yaml", "synthvi_partmix_quick.yaml",
                     "synthvi_partmix_random.yaml"], _SYNTHVI_CORE + _PARTMIX + _DISCOVERY),
    **dict.fromkeys(["synthvi_baseline.yaml", "synthvi_baseline_pinned_maps.yaml", "synthvi_cutmix.yaml",
                     "synthvi_manifold_mixup.yaml", "synthvi_mixup.yaml"], _SYNTHVI_CORE + _DISCOVERY),
    "synthvi_partmix_mpanet_head.yaml": _SYNTHVI_CORE + _PARTMIX,
}


def test_every_shipped_config_builds_the_same_losses_in_the_same_order():
    shipped = sorted(CONFIG_DIR.glob("*.yaml"))
    assert sorted(path.name for path in shipped) == sorted(SHIPPED_LOSSES)
    for path in shipped:
        built = [(type(loss).__name__, loss.weight) for loss in build_losses(setup_cfg(str(path)))]
        assert built == SHIPPED_LOSSES[path.name], path.name


def test_version_3_partmix_config_keeps_its_losses_and_weights(tmp_path):
    """VERSION 4 moved PARTMIX.CONT_WEIGHT / AID_WEIGHT to MODEL.LOSSES.CONT / AID.WEIGHT (PartMix's
    own upgrade step) and the list MODEL.LOSSES.NAMES to ENABLED switches (the core's)."""
    old = tmp_path / "old.yaml"
    old.write_text(f"_BASE_: {CONFIG_DIR / 'Base-SynthVI.yaml'}\nPARTMIX:\n  CONT_WEIGHT: 0.3\n  AID_WEIGHT: 0.2\n"
                   "MODEL:\n  LOSSES:\n    NAMES: [IdentityLoss, PartMixContrastiveLoss, PartMixAuxIDLoss, "
                   "PartConcentrationLoss]\n")
    built = [(type(loss).__name__, loss.weight) for loss in build_losses(setup_cfg(str(old)))]
    assert built == [("IdentityLoss", 1.0), ("PartMixContrastiveLoss", 0.3), ("PartMixAuxIDLoss", 0.2),
                     ("PartConcentrationLoss", 2.0)]
    weights_only = tmp_path / "weights_only.yaml"  # no VERSION and no NAMES: still recognised as old
    weights_only.write_text(f"_BASE_: {CONFIG_DIR / 'Base-PartMix.yaml'}\nPARTMIX:\n  CONT_WEIGHT: 0.7\n")
    cfg = setup_cfg(str(weights_only))
    assert cfg.MODEL.LOSSES.CONT.WEIGHT == 0.7 and "CONT_WEIGHT" not in cfg.PARTMIX
