"""The SynthVI comparison's arms (projects/PartMix/tools/compare_synthvi.py): every arm resolves
in the comparison regime on both splits; at one seed every arm starts from the same weights and
sees the same first batch, which is what makes the comparison paired; and the arms may share the
baseline's warm-up, which gives PartMix the result of a full run."""
import importlib.util
import os
from pathlib import Path

import pytest
import torch

from partreid.checkpoint import load_checkpoint_file
from partreid.config.config import setup_cfg
from partreid.data import build_train_loader
from partreid.engine import DefaultTrainer
from partreid.lab import comparison, warmup
from partreid.utils.testing import fake_finished_comparison_run, tiny_synthvi_opts

TOOL = Path(__file__).resolve().parents[1] / "tools" / "compare_synthvi.py"
CONFIG_DIR = Path(__file__).resolve().parents[1] / "configs"
# the SynthVI configs' row prior is laid out for 4 parts: the tiny runs' 2 parts get equal bands
EQUAL_BANDS = {"MODEL.PART_HEAD.ROW_PRIOR_CENTRES": "[]", "MODEL.PART_HEAD.ROW_PRIOR_WIDTHS": "[]"}


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
        assert (cfg.SOLVER.MAX_EPOCHS, cfg.MODEL.MIXER.START_EPOCH, cfg.DATALOADER.ITERS_PER_EPOCH) == (12, 6, 50)
        mixers[arm] = (cfg.MODEL.MIXER.NAME, cfg.PARTMIX.MINING if cfg.MODEL.MIXER.NAME == "PartMix" else None)
    assert mixers == {
        "baseline": ("NoMix", None), "partmix": ("PartMix", "entropy"), "partmix_random": ("PartMix", "random"),
        "cutmix": ("CutMix", None), "mixup": ("MixUp", None), "manifold_mixup": ("ManifoldMixUp", None),
    }


@pytest.mark.slow
def test_arms_share_initial_weights_and_first_batch(tmp_path):
    weights, batches = {}, {}
    for arm in _tool().ARMS:
        opts = tiny_synthvi_opts(str(tmp_path / "data"), str(tmp_path / arm), **{"SEED": 3, **EQUAL_BANDS})
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


@pytest.mark.slow
def test_every_arm_may_share_the_baselines_warmup(tmp_path, monkeypatch):
    """Each arm, probed in the comparison's regime on a tiny SynthVI, does before its mixer starts
    exactly what the baseline does (losses of the first steps, learning rates, mixer start)."""
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    tool = _tool()
    opts = tool.REGIME + tool.SPLITS["test"] + tiny_synthvi_opts(str(tmp_path / "data"), "unused", **{
        "SOLVER.MAX_EPOCHS": 12, "SOLVER.STEPS": "[9]", "MODEL.MIXER.START_EPOCH": 6, "SOLVER.CHECKPOINT_PERIOD": 6,
        "TEST.EVAL_PERIOD": 0, "PARTMIX.NUM_NEG": 2, **EQUAL_BANDS})
    opts = opts[: opts.index("OUTPUT_DIR")] + opts[opts.index("OUTPUT_DIR") + 2:]

    def probe(arm):
        return warmup.run_probe(str(CONFIG_DIR / f"synthvi_{arm}.yaml"), 0, opts, str(tmp_path / arm), 2)

    baseline = probe("baseline")
    assert baseline["mixer_start"] == 12 and len(baseline["losses"]) == 2
    for arm in tool.ARMS[1:]:
        assert warmup.warmup_mismatch(probe(arm), baseline) is None, arm


@pytest.mark.slow
def test_partmix_from_the_shared_warmup_equals_a_full_run(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    configs = [str(CONFIG_DIR / f"synthvi_{arm}.yaml") for arm in ("baseline", "partmix")]
    opts = tiny_synthvi_opts(str(tmp_path / "data"), "unused", **{
        "MODEL.MIXER.START_EPOCH": 1, "TEST.EVAL_PERIOD": 0, "SOLVER.WARMUP_EPOCHS": 0,
        "PARTMIX.NUM_NEG": 2, "PARTMIX.DIAGNOSTICS_PERIOD": 1, **EQUAL_BANDS})
    opts = opts[: opts.index("OUTPUT_DIR")] + opts[opts.index("OUTPUT_DIR") + 2:]
    full = comparison.run_comparison(configs, [0], str(tmp_path / "full"), opts)
    shared = comparison.run_comparison(configs, [0], str(tmp_path / "shared"), opts, share_warmup=True)
    assert shared["pairing"]["shared"] == 1 and full["pairing"]["mismatches"] == []
    assert shared["arms"]["synthvi_partmix"]["metrics"] == full["arms"]["synthvi_partmix"]["metrics"]
    assert shared["arms"]["synthvi_partmix"]["diagnostics"] == full["arms"]["synthvi_partmix"]["diagnostics"]
    final = [load_checkpoint_file(os.path.join(tmp_path, run, "synthvi_partmix", "seed0", "model_final.pth"))["model"]
             for run in ("full", "shared")]
    assert all(torch.equal(final[0][k], final[1][k]) for k in final[0])


def test_report_only_reads_the_finished_seeds(tmp_path):
    tool = _tool()
    out = tmp_path / "cmp"
    opts = tool.REGIME + tool.SPLITS["test"]
    for arm in tool.ARMS:
        fake_finished_comparison_run(out / f"synthvi_{arm}" / "seed0", str(CONFIG_DIR / f"synthvi_{arm}.yaml"), 0,
                                     opts, {"all_search_1shot/Rank-1": 30.0 + len(arm), "all_search_1shot/mAP": 20.0})
    summary = tool.main(["--split", "test", "--seeds", "0", "1", "--report-only", "--output-dir", str(out)])
    assert summary["seeds"] == [0] and summary["seeds_left_out"] == [1]
    assert summary["arms"]["synthvi_partmix"]["paired"]["Rank-1"]["values"] == {0: len("partmix") - len("baseline")}
    assert "--report-only" in (out / "compare.md").read_text()
