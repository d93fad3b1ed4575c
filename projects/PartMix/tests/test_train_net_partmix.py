"""The PartMix project end to end through tools/train_net.py on a tiny generated SynthVI:
its loss terms appear after the warm-up, every term stays finite, the identity loss falls, and
the evaluation reports metrics."""
import json
import math
import os

import pytest

from partreid.utils.testing import REPO_ROOT, run_train_net, tiny_synthvi_opts

CONFIG = os.path.join(REPO_ROOT, "projects", "PartMix", "configs", "synthvi_partmix.yaml")
# the SynthVI configs' row prior is laid out for 4 parts: the tiny runs' 2 parts get equal bands
EQUAL_BANDS = {"MODEL.PART_HEAD.ROW_PRIOR_CENTRES": "[]", "MODEL.PART_HEAD.ROW_PRIOR_WIDTHS": "[]"}


@pytest.mark.slow
def test_partmix_trains_and_evaluates(tmp_path):
    out = str(tmp_path / "run")
    opts = tiny_synthvi_opts(str(tmp_path / "data"), out, **{
        "SOLVER.MAX_EPOCHS": 6, "SOLVER.STEPS": "[5]", "SOLVER.WARMUP_EPOCHS": 0, "SOLVER.BASE_LR": 0.0005,
        "MODEL.MIXER.START_EPOCH": 1, "TEST.EVAL_PERIOD": 0, "PARTMIX.NUM_NEG": 8, **EQUAL_BANDS,
    })
    proc = run_train_net(["--config-file", CONFIG, *opts], threads=2)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    with open(os.path.join(out, "metrics.json")) as f:
        rows = [json.loads(line) for line in f]
    steps = [r for r in rows if "total_loss" in r]
    assert len(steps) == 12
    # warm-up (epoch 0 = iterations 1, 2) without the PartMix terms, then with them
    assert all("loss_cont" not in r and "loss_aid" not in r for r in steps[:2])
    assert all("loss_cont" in r and "loss_aid" in r for r in steps[2:])
    assert all(math.isfinite(v) for r in steps for k, v in r.items() if k.startswith("loss") or k == "total_loss")
    first, last = steps[0]["loss_id"], sum(r["loss_id"] for r in steps[-3:]) / 3
    assert last < first, (first, last)
    evals = [r for r in rows if "eval/all_search_1shot/mAP" in r]
    assert len(evals) == 1 and 0 < evals[0]["eval/all_search_1shot/mAP"] <= 100
    assert "Rank-1" in proc.stdout
    with open(os.path.join(out, "log.txt")) as f:
        log = f.read()
    # the run's log holds the recipe card before the first training step, with the run's numbers
    card = log.index("Recipe card of")
    assert card < log.index("Starting training")
    assert "- length: 6 epochs = 12 iterations" in log[card:] and "- PartMix warm-up: " in log[card:]
