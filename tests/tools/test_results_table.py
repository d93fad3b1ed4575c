"""tools/results_table.py on run folders made here: a tiny SYSU-MM01 training run (through
tools/train_net.py, so its metrics.json records the gallery draws), a tools/regdb_trials.py
summary, a single-trial RegDB run and an LLCM run (written by partreid's own metric writer)."""
import csv
import importlib.util
import json
import os

import cv2
import numpy as np
import pytest

from partreid.config import get_cfg
from partreid.utils.events import EventStorage, JSONWriter
from partreid.utils.testing import REPO_ROOT, run_train_net

SYSU_CONFIG = os.path.join(REPO_ROOT, "configs", "sysu_mm01_baseline.yaml")


def load_tool(name):
    spec = importlib.util.spec_from_file_location(f"{name}_tool", os.path.join(REPO_ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def write_sysu(root, train=(1, 2, 3), test=(4, 5), images=3):
    rng = np.random.default_rng(0)
    for pid in (*train, *test):
        for cam in range(1, 7):
            for n in range(1, images + 1):
                path = os.path.join(root, f"cam{cam}", f"{pid:04d}", f"{n:04d}.jpg")
                os.makedirs(os.path.dirname(path), exist_ok=True)
                assert cv2.imwrite(path, rng.integers(0, 256, (16, 8, 3), dtype=np.uint8))
    os.makedirs(os.path.join(root, "exp"))
    for name, ids in (("train_id.txt", train[:-1]), ("val_id.txt", train[-1:]), ("test_id.txt", test)):
        with open(os.path.join(root, "exp", name), "w") as f:
            f.write(",".join(map(str, ids)) + "\n")


def write_run(folder, dataset, results, iteration=9, **datasets_keys):
    """A run folder as the engine leaves it: config.yaml and a metrics.json whose last evaluation
    holds `results`, written by partreid's metric writer (an older evaluation comes first)."""
    os.makedirs(folder)
    cfg = get_cfg()
    cfg.DATASETS.TEST = dataset
    for key, value in datasets_keys.items():
        cfg.DATASETS[key] = value
    with open(os.path.join(folder, "config.yaml"), "w") as f:
        f.write(cfg.dump())
    writer = JSONWriter(os.path.join(folder, "metrics.json"))
    for it, scale in ((iteration - 5, 0.5), (iteration, 1.0)):
        with EventStorage(start_iter=it) as storage:
            for group, metrics in results.items():
                for metric, value in metrics.items():
                    storage.put_scalar(f"eval/{group}/{metric}", value * scale)
            writer.write()


LLCM = {"infrared_to_visible": {"Rank-1": 41.0, "Rank-10": 70.0, "Rank-20": 80.0, "mAP": 45.5, "mINP": 30.25},
        "visible_to_infrared": {"Rank-1": 51.0, "Rank-10": 71.0, "Rank-20": 81.0, "mAP": 46.5, "mINP": 31.25}}


def section(md, title):
    """(column titles after Method, {method: cells}) of the Markdown table under ### title."""
    lines = md.split(f"### {title}\n")[1].split("\n### ")[0].splitlines()
    table = [[c.strip() for c in line.split("|")[1:-1]] for line in lines if line.startswith("|")]
    return table[0][1:], {row[0]: row[1:] for row in table[2:]}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("tables")
    write_sysu(str(root / "data" / "SYSU-MM01"))
    sysu = str(root / "sysu_run")
    opts = {
        "DATASETS.ROOT": root / "data", "OUTPUT_DIR": sysu, "MODEL.DEVICE": "cpu",
        "MODEL.BACKBONE.PRETRAIN_PATH": '""', "MODEL.BACKBONE.ALLOW_RANDOM_INIT": True, "MODEL.BACKBONE.DEPTH": 18,
        "MODEL.PART_HEAD.NUM_PARTS": 2, "MODEL.CHANNELS_LAST": False, "INPUT.SIZE_TRAIN": "[32,16]",
        "INPUT.SIZE_TEST": "[32,16]", "INPUT.PADDING": 2, "DATALOADER.NUM_IDENTITIES": 2,
        "DATALOADER.NUM_INSTANCES": 2, "DATALOADER.ITERS_PER_EPOCH": 1, "DATALOADER.NUM_WORKERS": 0,
        "SOLVER.MAX_EPOCHS": 1, "SOLVER.STEPS": "[1]", "TEST.EVAL_PERIOD": 0, "TEST.NUM_TRIALS": 2,
        "TEST.SYSU.SHOTS": "[1,10]", "TEST.IMS_PER_BATCH": 32,
    }
    proc = run_train_net(["--config-file", SYSU_CONFIG, *[str(x) for kv in opts.items() for x in kv]], threads=2)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]

    regdb_tool = load_tool("regdb_trials")
    per_trial = {
        t: {"visible_to_thermal": {"Rank-1": 80.0 + t, "Rank-10": 90.0, "Rank-20": 95.0, "mAP": 70.0 + t, "mINP": 60.0},
            "thermal_to_visible": {"Rank-1": 78.0 + t, "Rank-10": 89.0, "Rank-20": 94.0, "mAP": 69.0, "mINP": 59.0}}
        for t in (1, 2)
    }
    regdb = root / "regdb_trials"
    regdb.mkdir()
    regdb_tool.write_json(str(regdb / "regdb_trials.json"), regdb_tool.summarize(per_trial, "regdb_baseline.yaml"))
    write_run(str(root / "regdb_trial3"), "RegDB", per_trial[1], REGDB_TRIAL=3)
    write_run(str(root / "llcm_run"), "LLCM", LLCM)
    return root


@pytest.mark.slow
def test_tables_in_the_papers_layout(runs, capsys):
    tool = load_tool("results_table")
    out = runs / "tables"
    paths = tool.main([str(runs / "sysu_run"), f"Ours_{{regdb}}={runs / 'regdb_trials'}", str(runs / "regdb_trial3"),
                       str(runs / "llcm_run"), "--output-dir", str(out)])
    md = (out / "results.md").read_text()
    assert md in capsys.readouterr().out
    assert [line for line in md.splitlines() if line.startswith("### ")] == ["### SYSU-MM01", "### RegDB", "### LLCM"]

    # SYSU-MM01: published rows with their sources, our run with every setting and its draws
    with open(runs / "sysu_run" / "metrics.json") as f:
        last = [json.loads(line) for line in f if '"eval/' in line][-1]
    assert last["eval/all_search_1shot/draw"] == "agw_seeded"
    assert last["eval/indoor_search_10shot/draw"] == "partreid_seeded"
    header, cells = section(md, "SYSU-MM01")
    assert header[:2] == ["All-search single-shot R1", "All-search single-shot R10"] and header[-1] == "Gallery draw"
    assert header[5:10] == [f"All-search multi-shot {m}" for m in ("R1", "R10", "R20", "mAP", "mINP")]
    assert header[10] == "Indoor-search single-shot R1" and header[15] == "Indoor-search multi-shot R1"
    assert cells["MPANet [1]"][:5] == ["70.58", "n/r", "n/r", "68.24", "n/r"]
    assert cells["MPANet [1]"][10:15] == ["76.74", "n/r", "n/r", "80.95", "n/r"]
    second = tool.PUBLISHED[1]
    quoted = second["results"]["SYSU-MM01"]
    row = cells[f"{second['method']} [2]"]
    assert row[0] == f"{quoted['all_search_1shot']['Rank-1']:.2f}" and row[10] == f"{quoted['indoor_search_1shot']['Rank-1']:.2f}"
    assert row[5] == "n/r"  # multi-shot: not reported
    ours = cells["sysu_run"]
    assert ours[0] == f"{last['eval/all_search_1shot/Rank-1']:.2f}"
    assert ours[18] == f"{last['eval/indoor_search_10shot/mAP']:.2f}"
    assert ours[-1] == "agw_seeded (single-shot); partreid_seeded (multi-shot)"
    assert "Gallery draw partreid_seeded: seeded multi-shot draws" in md
    assert "[1] Wu et al., Discover Cross-Modality Nuances" in md and f"[2] {second['source']}" in md

    # RegDB: the mean over the trials, a single-trial run said to be one, the published rows n/r
    header, cells = section(md, "RegDB")
    assert header[0] == "Visible to Thermal R1" and header[5] == "Thermal to Visible R1"
    mean_row = cells["Ours_{regdb} (mean over 2 of 10 split trials)"]
    assert mean_row[:6] == ["81.50", "90.00", "95.00", "71.50", "60.00", "79.50"]
    assert cells["regdb_trial3 (split trial 3 only, not the mean over 10 trials)"][0] == "81.00"
    assert cells["MPANet [1]"] == ["n/r"] * 10
    header, cells = section(md, "LLCM")
    assert header[0] == "IR to VIS R1" and header[5] == "VIS to IR R1"
    assert cells["llcm_run"] == [f"{LLCM[g][m]:.2f}" for g in LLCM for m in ("Rank-1", "Rank-10", "Rank-20", "mAP", "mINP")]

    tex = (out / "results.tex").read_text()
    assert tex.count(r"\begin{tabular}") == 3 and r"\multicolumn{5}{c}{All-search single-shot}" in tex
    assert r"Ours\_\{regdb\} (mean over 2 of 10 split trials) & 81.50" in tex and r"\cmidrule(lr){2-6}" in tex

    with open(paths["csv"]) as f:
        table = list(csv.DictReader(f))
    regdb = [r for r in table if r["method"] == "Ours_{regdb}" and r["setting"] == "Visible to Thermal"]
    assert len(regdb) == 1 and float(regdb[0]["R1"]) == 81.5 and float(regdb[0]["R1_std"]) == 0.5
    assert regdb[0]["source"] == str(runs / "regdb_trials")
    sysu_multi = next(r for r in table if r["method"] == "sysu_run" and r["setting"] == "All-search multi-shot")
    assert sysu_multi["draw"] == "partreid_seeded"
    mpanet = next(r for r in table if r["method"] == "MPANet" and r["setting"] == "All-search single-shot")
    assert (mpanet["R1"], mpanet["R10"]) == ("70.58", "") and mpanet["source"].startswith("Wu et al.")


@pytest.mark.slow
def test_runs_without_a_paper_table_are_refused(runs, tmp_path):
    tool = load_tool("results_table")
    write_run(str(tmp_path / "synthvi"), "SynthVI", {"all_search_1shot": {"Rank-1": 1.0}})
    with pytest.raises(ValueError, match="'SynthVI', which has no table"):
        tool.main([str(tmp_path / "synthvi"), "--output-dir", str(tmp_path / "t")])
    with pytest.raises(FileNotFoundError, match="no config.yaml"):
        tool.main([str(tmp_path), "--output-dir", str(tmp_path / "t")])
    os.makedirs(tmp_path / "unfinished")
    cfg = get_cfg()
    cfg.DATASETS.TEST = "LLCM"
    (tmp_path / "unfinished" / "config.yaml").write_text(cfg.dump())
    (tmp_path / "unfinished" / "metrics.json").write_text('{"iteration": 0, "total_loss": 1.0}\n')
    with pytest.raises(ValueError, match="holds no evaluation"):
        tool.main([str(tmp_path / "unfinished"), "--output-dir", str(tmp_path / "t")])
