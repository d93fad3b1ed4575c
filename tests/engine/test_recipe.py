"""The recipe card: its sources from `# source:` comments, and the SYSU-MM01 card of the core's
paper config on a generated SYSU-MM01 tree, against a table derived by hand."""
import os

import pytest

from partreid.config import setup_cfg
from partreid.engine.recipe import config_sources, recipe_card

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TREES = os.path.join(REPO, "tests", "data")
SYSU_CONFIG = os.path.join(REPO, "configs", "sysu_mm01_baseline.yaml")


def test_sources_come_from_comments_and_children_override_their_base(tmp_path):
    base = tmp_path / "base.yaml"
    base.write_text(
        "# header comment, no source\n"
        "SOLVER:\n"
        "  # source: paper (one)\n"
        "  #   continued\n"
        "  MAX_EPOCHS: 120\n"
        "  BASE_LR: 0.1  # source: MPANet code (x.py:3)\n"
        "  # source: orphan, a blank line follows\n"
        "\n"
        "  GAMMA: 0.5\n"
        "INPUT:\n"
        "  # source: our choice (the whole node)\n"
        "  RANDOM_ERASING:\n"
        "    PROB: 0.3\n"
    )
    child = tmp_path / "child.yaml"
    child.write_text("_BASE_: base.yaml\nSOLVER:\n  BASE_LR: 0.2  # source: our choice (child)\n  MAX_EPOCHS: 20\n")
    sources = config_sources(str(child))
    assert sources == {
        # a value set again without a source loses its base's source
        "SOLVER.MAX_EPOCHS": "config, no source given (child.yaml)",
        "SOLVER.BASE_LR": "our choice (child)",
        "SOLVER.GAMMA": "config, no source given (base.yaml)",
        "INPUT.RANDOM_ERASING": "our choice (the whole node)",
    }
    assert config_sources(str(base))["SOLVER.MAX_EPOCHS"] == "paper (one) continued"


@pytest.fixture
def sysu_root(tmp_path, monkeypatch):
    """A SYSU-MM01 tree whose sampler passes are known (vi_reid_trees.write_sysu_recipe_tree)."""
    monkeypatch.syspath_prepend(TREES)
    from vi_reid_trees import write_sysu_recipe_tree

    return write_sysu_recipe_tree(str(tmp_path))


# item: (what the value must say, what the source must say); derived by hand from the tree above
SYSU_CARD = {
    "data": ("train SYSUMM01, test SYSUMM01, SEED 0", "our choice: fixed so that the sampler's passes"),
    "epoch": ("CrossModalityPassSampler sizes the epochs (DATALOADER.PASS_EPOCH pass): 2-2 iterations (mean 2; "
              "first epochs 2, 2, 2, 2, 2), from SEED 0 and 384 training images of 16 identities",
              "MPANet code: an epoch is one pass of its sampler under pytorch-ignite 0.2.1"),
    "length": ("120 epochs = 240 iterations x 128 images = 30720 images seen",
               "paper (supplementary C): the baseline warmed up 20 epochs, then 100 epochs"),
    "sampler": ("CrossModalityPassSampler, 16 identities x 8 images = 128 per batch",
                "MPANet code: RandomIdentitySampler (data/sampler.py:100-162"),
    "optimizer and LR": ("Adam, base LR 0.00035, weight decay 0.0005; epoch 80 = iteration 160: LR 3.5e-05; "
                         "step at epoch 120 = iteration 240: at or after the end, no effect",
                         "paper (supplementary C: Adam) = MPANet code (configs/SYSU.yml:38)"),
    "loss IdentityLoss": ("weight 1, label_smoothing 0, reduction mean; on from iteration 0",
                          "MPANet code (models/baseline.py:166"),
    "loss ModalitySpecificIDLoss": ("weight 0.5, count_twice True; on from iteration 0",
                                    "our choice, following MPANet code: its weight_sid multiplies"),
    "loss ModalityLearningLoss": ("weight 2.5; on from iteration 0", "paper (supplementary C: lambda_ML 2.5)"),
    "loss CenterClusterLoss": ("weight 1, margin 0.7; on from iteration 0", "MPANet code (configs/SYSU.yml:21"),
    "loss PartSeparationLoss": ("weight 0.5, normalize False; on from iteration 0", "MPANet code (configs/SYSU.yml:24"),
    "classifier EMA": ("EMA rate 0.2, x min(1, 100 / (epoch + 2)): shrinking from epoch 99 = iteration 198",
                       "MPANet code: update_rate 0.2 (configs/SYSU.yml:26), i.e. momentum 0.8; MPANet code: the rate"),
    "mixer": ("none (NoMix)", "MPANet code (the baseline mixes nothing; a method's config names its mixer)"),
    "input": ("train [384, 128], test [384, 128], decoder pil, bilinear resize with pil",
              "MPANet code: torchvision's T.Resize on PIL images (data/__init__.py:28)"),
    "augmentation": ("pad 10 with 127 + random crop, flip p 0.5, random erasing p 0.5, area [0.02, 0.33], "
                     "aspect [0.3, 3.3], 10 attempts, fill pixel_mean",
                     "MPANet code (data/__init__.py:37 T.Pad(padding, fill=127))"),
    "evaluation protocol": ("SYSUEvaluator on SYSUMM01: ", "MPANet code: all and indoor search, single- and multi-shot"),
    "gallery draws": ("1 shot(s): agw_seeded, 10 shot(s): partreid_seeded", "MPANet code: all and indoor search"),
    "evaluation schedule": ("every 20 iterations and after the last; model_best.pth by Rank-1",
                            "our choice: every 10 (nominal) epochs"),
}


def parse_card(text):
    """{item: (value, source)} of a printed card."""
    lines = text.splitlines()
    card = {}
    for line, source in zip(lines[1::2], lines[2::2]):
        item, value = line[2:].split(": ", 1)
        card[item] = (value, source.strip()[len("source: "):])
    return card


def test_sysu_card_on_a_sysu_tree(sysu_root):
    cfg = setup_cfg(SYSU_CONFIG, ["DATASETS.ROOT", sysu_root])
    card = parse_card(recipe_card(cfg, SYSU_CONFIG, ["DATASETS.ROOT", sysu_root]))
    assert list(card)[:5] == ["data", "epoch", "length", "sampler", "optimizer and LR"]
    for item, (value, source) in SYSU_CARD.items():
        assert value in card[item][0], (item, card[item][0])
        assert source in card[item][1], (item, card[item][1])
    protocol = card["evaluation protocol"][0]
    for part in ("num_trials 10", "modes [all, indoor]", "shots [1, 10]", "draws official"):
        assert part in protocol


def test_overrides_move_the_milestones_and_say_so(sysu_root):
    opts = ["DATASETS.ROOT", sysu_root, "SOLVER.MAX_EPOCHS", "140", "DATALOADER.PASS_EPOCH", "length_estimate"]
    cfg = setup_cfg(SYSU_CONFIG, opts)
    card = parse_card(recipe_card(cfg, SYSU_CONFIG, opts))
    # MPANet's estimate: 16 identities x max(8, 8) infrared images = 128 images // 128 = 1 per epoch
    assert card["length"] == ("140 epochs = 140 iterations x 128 images = 17920 images seen", "command line")
    assert "epoch 80 = iteration 80: LR 3.5e-05; epoch 120 = iteration 120: LR 3.5e-06" in card["optimizer and LR"][0]
    assert "(DATALOADER.PASS_EPOCH length_estimate): 1-1 iterations" in card["epoch"][0]


def test_train_net_prints_the_card_without_training(sysu_root, capsys, tmp_path):
    import importlib.util

    spec = importlib.util.spec_from_file_location("train_net", os.path.join(REPO, "tools", "train_net.py"))
    train_net = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(train_net)
    output = tmp_path / "never_written"
    train_net.cli(["--config-file", SYSU_CONFIG, "--print-recipe", "DATASETS.ROOT", sysu_root,
                   "OUTPUT_DIR", str(output)])
    printed = capsys.readouterr().out
    assert printed.startswith(f"Recipe card of {SYSU_CONFIG} with overrides DATASETS.ROOT {sysu_root}")
    assert "- length: 120 epochs = 240 iterations" in printed
    assert not output.exists()  # nothing set up, nothing trained
