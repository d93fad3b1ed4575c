"""tools/regdb_trials.py on a tiny generated RegDB tree (two split trials) with a tiny baseline
model: trains each trial in its own folder, aggregates both directions, skips finished trials,
re-evaluates with --eval-only, and resumes an interrupted trial."""
import importlib.util
import json
import os

import cv2
import numpy as np
import pytest

from partreid.utils.testing import REPO_ROOT

CONFIG = os.path.join(os.path.dirname(os.path.abspath(__file__)), "configs", "regdb_baseline.yaml")
IDS = (1, 2, 3, 4, 5)


def load_tool():
    path = os.path.join(REPO_ROOT, "tools", "regdb_trials.py")
    spec = importlib.util.spec_from_file_location("regdb_trials_tool", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_regdb(root, trials, images=4):
    """RegDB's layout: Visible/ and Thermal/ images, and per trial its own split in idx/ (trial t
    tests on two identities and trains on the three others)."""
    rng = np.random.default_rng(0)
    paths = {}
    for pid in IDS:
        for folder in ("Visible", "Thermal"):
            for n in range(images):
                rel = f"{folder}/male/{pid}/{folder[0]}_{pid}_{n}.bmp"
                os.makedirs(os.path.dirname(os.path.join(root, rel)), exist_ok=True)
                assert cv2.imwrite(os.path.join(root, rel), rng.integers(0, 256, (16, 8, 3), dtype=np.uint8))
                paths.setdefault((pid, folder), []).append(rel)
    os.makedirs(os.path.join(root, "idx"), exist_ok=True)
    for trial in trials:
        test_ids = {IDS[trial % len(IDS)], IDS[(trial + 1) % len(IDS)]}
        for split in ("train", "test"):
            pids = [p for p in IDS if (p in test_ids) == (split == "test")]
            for name, folder in (("visible", "Visible"), ("thermal", "Thermal")):
                with open(os.path.join(root, "idx", f"{split}_{name}_{trial}.txt"), "w") as f:
                    f.writelines(f"{rel} {pid}\n" for pid in pids for rel in paths[(pid, folder)])


def tiny_opts(data_root, out_dir):
    opts = {
        "DATASETS.ROOT": data_root, "OUTPUT_DIR": out_dir, "MODEL.DEVICE": "cpu",
        "MODEL.BACKBONE.PRETRAIN_PATH": '""', "MODEL.BACKBONE.ALLOW_RANDOM_INIT": True,
        "MODEL.BACKBONE.DEPTH": 18, "MODEL.PART_HEAD.NUM_PARTS": 2, "MODEL.CHANNELS_LAST": False,
        "INPUT.SIZE_TRAIN": "[32,16]", "INPUT.SIZE_TEST": "[32,16]", "INPUT.PADDING": 2,
        "DATALOADER.NUM_IDENTITIES": 2, "DATALOADER.NUM_INSTANCES": 2, "DATALOADER.ITERS_PER_EPOCH": 1,
        "DATALOADER.NUM_WORKERS": 0, "SOLVER.MAX_EPOCHS": 2, "SOLVER.STEPS": "[1]", "SOLVER.CHECKPOINT_PERIOD": 1,
        "SOLVER.LOG_PERIOD": 1, "TEST.EVAL_PERIOD": 0, "TEST.IMS_PER_BATCH": 16,
    }
    return [str(x) for kv in opts.items() for x in kv]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """(tool, root, opts, summary) after training trials 1 and 2."""
    root = tmp_path_factory.mktemp("regdb")
    write_regdb(str(root / "data" / "RegDB"), trials=(1, 2))
    tool = load_tool()
    opts = tiny_opts(str(root / "data"), str(root / "out"))
    summary = tool.cli(["--config-file", CONFIG, "--trials", "1-2", *opts])
    return tool, root, opts, summary


@pytest.mark.slow
def test_each_trial_trains_in_its_folder_and_the_summary_averages_them(trained, capsys):
    tool, root, _, summary = trained
    out = root / "out"
    for trial in (1, 2):
        folder = out / f"trial_{trial}"
        assert (folder / "model_final.pth").is_file()
        with open(folder / "results.json") as f:
            recorded = json.load(f)
        assert recorded["trial"] == trial and recorded["weights"] == str(folder / "model_final.pth")
        assert "REGDB_TRIAL: %d" % trial in (folder / "config.yaml").read_text()
    assert summary["trials"] == [1, 2] and summary["complete"] is False
    assert list(summary["mean_std"]) == ["visible_to_thermal", "thermal_to_visible"]
    for direction, stats in summary["mean_std"].items():
        for metric in ("Rank-1", "Rank-10", "Rank-20", "mAP", "mINP"):
            values = [summary["per_trial"][t][direction][metric] for t in ("1", "2")]
            assert stats[metric] == pytest.approx(np.mean(values))
            assert stats[f"{metric}_std"] == pytest.approx(np.std(values))
    with open(out / "regdb_trials.json") as f:
        assert json.load(f) == json.loads(json.dumps(summary))
    table = (out / "regdb_trials.md").read_text()
    assert "V->T Rank-1" in table and "T->V mINP" in table and "| mean" in table and "| std" in table


@pytest.mark.slow
def test_finished_trials_are_skipped(trained):
    tool, root, opts, summary = trained
    final = root / "out" / "trial_1" / "model_final.pth"
    stamp = final.stat().st_mtime_ns
    again = tool.cli(["--config-file", CONFIG, "--trials", "1,2", *opts])
    assert final.stat().st_mtime_ns == stamp
    assert again["mean_std"] == summary["mean_std"]
    assert "Trial 1: finished in" in (root / "out" / "log.txt").read_text()


@pytest.mark.slow
def test_eval_only_reevaluates_the_final_weights(trained):
    tool, root, opts, summary = trained
    records = {t: (root / "out" / f"trial_{t}" / "config.yaml").read_text() for t in (1, 2)}
    evaluated = tool.cli(["--config-file", CONFIG, "--eval-only", "--trials", "1-2", *opts])
    for trial, record in records.items():  # each trial's training record stays; the evaluation has its own
        assert (root / "out" / f"trial_{trial}" / "config.yaml").read_text() == record
        assert "REGDB_TRIAL: %d" % trial in (root / "out" / f"trial_{trial}" / "eval_config.yaml").read_text()
    for trial in ("1", "2"):
        for direction, metrics in summary["per_trial"][trial].items():
            assert evaluated["per_trial"][trial][direction] == pytest.approx(metrics)
    with open(root / "out" / "trial_2" / "results.json") as f:
        assert json.load(f)["eval_only"] is True
    with pytest.raises(ValueError, match="placeholder"):
        tool.cli(["--config-file", CONFIG, "--eval-only", *opts, "MODEL.WEIGHTS", "w.pth"])
    with pytest.raises(FileNotFoundError, match="trial_3/model_final.pth"):
        tool.cli(["--config-file", CONFIG, "--eval-only", "--trials", "2-3", *opts])
    # without --config-file, each trial is built from its own config.yaml: the folder is all it needs
    out = str(root / "out")
    from_records = tool.cli(["--eval-only", "--trials", "1-2", "OUTPUT_DIR", out])
    for trial in ("1", "2"):
        for direction, metrics in summary["per_trial"][trial].items():
            assert from_records["per_trial"][trial][direction] == pytest.approx(metrics)
    assert from_records["config_file"] == "each trial's config.yaml"
    with pytest.raises(ValueError, match="trial_3/config.yaml does not exist"):
        tool.cli(["--eval-only", "--trials", "2-3", "OUTPUT_DIR", out])


@pytest.mark.slow
def test_an_interrupted_trial_resumes_from_its_last_checkpoint(trained):
    tool, root, opts, _ = trained
    folder = root / "out" / "trial_2"
    for name in ("results.json", "model_final.pth", "model_0000002.pth"):
        (folder / name).unlink()
    (folder / "last_checkpoint").write_text("model_0000001.pth")
    resumed = tool.cli(["--config-file", CONFIG, "--resume", "--trials", "2", *opts])
    assert "Resuming after iteration 1" in (folder / "log.txt").read_text()
    assert (folder / "model_final.pth").is_file() and (folder / "results.json").is_file()
    assert resumed["trials"] == [2]


def test_bad_requests_are_named():
    tool = load_tool()
    assert tool.parse_trials("1,3,5-7") == [1, 3, 5, 6, 7]
    for text in ("0-3", "2-11", "a"):
        with pytest.raises(Exception, match="--trials"):
            tool.parse_trials(text)
    with pytest.raises(ValueError, match="choose trials with --trials"):
        tool.cli(["--config-file", CONFIG, "DATASETS.REGDB_TRIAL", "3"])
    with pytest.raises(ValueError, match="needs DATASETS.TRAIN and DATASETS.TEST RegDB"):
        tool.cli(["--config-file", os.path.join(REPO_ROOT, "configs", "sysu_mm01_baseline.yaml")])
    with pytest.raises(ValueError, match="needs --config-file to train"):
        tool.cli(["--trials", "1"])
    with pytest.raises(ValueError, match="--eval-only without --config-file needs OUTPUT_DIR"):
        tool.cli(["--eval-only"])
