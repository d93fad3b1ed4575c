"""PartMix's lines of the recipe card, on a generated SYSU-MM01 tree whose every pass is exactly
2 batches (16 identities with 2 blocks each), so that the iterations follow by hand."""
from pathlib import Path

import pytest

from partreid.config import setup_cfg
from partreid.engine.recipe import recipe_card

REPO = Path(__file__).resolve().parents[3]
CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture
def sysu_root(tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(str(REPO / "tests" / "data"))
    from vi_reid_trees import write_sysu_recipe_tree

    return write_sysu_recipe_tree(str(tmp_path))


def card_of(config, opts):
    text = recipe_card(setup_cfg(str(config), opts), str(config), opts)
    lines = text.splitlines()
    return {line[2:].split(": ", 1)[0]: (line[2:].split(": ", 1)[1], source.strip()[len("source: "):])
            for line, source in zip(lines[1::2], lines[2::2])}


def test_sysu_partmix_card(sysu_root):
    card = card_of(CONFIGS / "sysu_partmix.yaml", ["DATASETS.ROOT", sysu_root])
    assert card["PartMix warm-up"] == (
        "the baseline alone for epochs 0-19 (iterations 0-39); PartMix, L_cont and L_aid from iteration 40",
        "paper (supplementary C: the baseline warmed up for 20 epochs before PartMix)")
    assert card["PartMix donors"][0] == "donors of the other modality only (the abstract's 'across the modalities')"
    assert card["PartMix donors"][1].startswith("paper (abstract: PartMix mixes")
    assert card["loss PartMixContrastiveLoss"][0] == (
        "weight 0.5, temperature 0.1, cont_feature bn; on with the mixer, from epoch 20 = iteration 40")
    assert card["loss PartMixAuxIDLoss"][0] == "weight 0.5; on with the mixer, from epoch 20 = iteration 40"
    assert card["mixer"][0] == "PartMix from epoch 20 = iteration 40, on a batch with probability 1"
    assert "U' 2 positives and Q' 20 negatives per anchor" in card["PartMix mining"][0]
    assert card["length"][0] == "120 epochs = 240 iterations x 128 images = 30720 images seen"


def test_the_140_epoch_reading_makes_the_second_decay_act(sysu_root):
    card = card_of(CONFIGS / "sysu_partmix_140ep.yaml", ["DATASETS.ROOT", sysu_root])
    assert card["length"] == ("140 epochs = 280 iterations x 128 images = 35840 images seen",
                              "MPANet code (configs/SYSU.yml:39 num_epoch 140): the supplementary's decay at epoch "
                              "120 then acts")
    assert "epoch 80 = iteration 160: LR 3.5e-05; epoch 120 = iteration 240: LR 3.5e-06" in card["optimizer and LR"][0]


def test_the_intra_reading_is_one_override(sysu_root):
    opts = ["DATASETS.ROOT", sysu_root, "PARTMIX.INTRA", "True"]
    card = card_of(CONFIGS / "sysu_partmix.yaml", opts)
    assert card["PartMix donors"] == ("donors of both modalities (INTER and INTRA)", "paper (abstract: PartMix mixes "
                                      "part descriptors across the modalities); command line")
    baseline = card_of(CONFIGS / "sysu_baseline.yaml", ["DATASETS.ROOT", sysu_root])
    assert "PartMix warm-up" not in baseline and baseline["mixer"][0] == "none (NoMix)"
