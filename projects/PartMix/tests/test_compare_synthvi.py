"""The SynthVI comparison's arms (projects/PartMix/tools/compare_synthvi.py): every arm resolves
in the comparison regime on both splits, and at one seed every arm starts from the same weights
and sees the same first batch, which is what makes the comparison paired."""
import importlib.util
from pathlib import Path

import pytest
import torch

from partreid.config.config import setup_cfg
from partreid.data import build_train_loader
from partreid.engine import DefaultTrainer
from partreid.utils.testing import tiny_synthvi_opts

TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_synthvi.py"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"


def _tool():
    spec = importlib.util.spec_from_file_location("compare_synthvi", TOOL)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("split", ["val", "test"])
def test_every_arm_resolves_in_the_regime(split):
    tool = _tool()
    mixers = {}
    for arm in tool.ARMS:
        cfg = setup_cfg(str(CONFIG_DIR / f"synthvi_{arm}.yaml"), tool.REGIME + tool.SPLITS[split])
        assert cfg.DATASETS.TEST == ("SynthVIVal" if split == "val" else "SynthVI")
        assert (cfg.SOLVER.MAX_EPOCHS, cfg.MODEL.MIXER.START_EPOCH, cfg.DATALOADER.ITERS_PER_EPOCH) == (12, 4, 50)
        mixers[arm] = (cfg.MODEL.MIXER.NAME, cfg.PARTMIX.MINING if cfg.MODEL.MIXER.NAME == "PartMix" else None)
    assert mixers == {
        "baseline": ("NoMix", None), "partmix": ("PartMix", "entropy"), "partmix_random": ("PartMix", "random"),
        "cutmix": ("CutMix", None), "mixup": ("MixUp", None), "manifold_mixup": ("ManifoldMixUp", None),
    }


@pytest.mark.slow
def test_arms_share_initial_weights_and_first_batch(tmp_path):
    weights, batches = {}, {}
    for arm in _tool().ARMS:
        opts = tiny_synthvi_opts(str(tmp_path / "data"), str(tmp_path / arm), **{"SEED": 3})
        cfg = setup_cfg(str(CONFIG_DIR / f"synthvi_{arm}.yaml"), opts)
        trainer = DefaultTrainer(cfg)
        weights[arm] = trainer.plain_model.state_dict()
        batches[arm] = next(iter(build_train_loader(cfg, trainer.train_dataset)))
    reference = weights["baseline"]
    for arm, state in weights.items():
        assert state.keys() == reference.keys(), arm
        assert all(torch.equal(state[k], reference[k]) for k in state), arm
        for key in ("images", "targets", "modalities", "indices"):
            assert torch.equal(batches[arm][key], batches["baseline"][key]), (arm, key)
