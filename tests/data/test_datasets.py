import json
import logging
import os
import shutil

import pytest

from partreid.data import DATASET_REGISTRY, INFRARED, VISIBLE, build_dataset
from partreid.data import synthvi as synthvi_package
from partreid.data.datasets import LLCM, SYSUMM01, DatasetLayoutError, RegDB, SynthVI

from vi_reid_trees import write_ids, write_image


# ----------------------------------------------------------------------------- SYSU-MM01
def test_sysu_reads_train_val_relabelled_and_all_test_images(make_sysu, cfg):
    make_sysu(train=(7, 3), val=(12,), test=(5, 6), images=2, missing={(3, 2)})
    dataset = build_dataset(cfg, "SYSUMM01")
    assert dataset.default_evaluator == "SYSUEvaluator"
    assert dataset.root == os.path.join(cfg.DATASETS.ROOT, "SYSU-MM01")
    # ids 3, 7, 12 -> 0, 1, 2; id 3 misses camera 2.
    assert dataset.num_train_pids == 3
    assert sorted({it.pid for it in dataset.train}) == [0, 1, 2]
    assert len(dataset.train) == 3 * 6 * 2 - 2
    assert not any(it.pid == 0 and it.camid == 2 for it in dataset.train)
    by_path = {it.path: it for it in dataset.train}
    assert by_path[os.path.join(dataset.root, "cam6", "0012", "0001.jpg")].pid == 2
    assert sorted({it.pid for it in dataset.test}) == [5, 6]
    assert len(dataset.test) == 2 * 6 * 2
    for item in dataset.train + dataset.test:
        assert item.modality == (INFRARED if item.camid in (3, 6) else VISIBLE)
        assert item.role == ""


def test_sysu_missing_split_file_names_path_and_layout(make_sysu, cfg):
    root = make_sysu()
    os.remove(os.path.join(root, "exp", "test_id.txt"))
    with pytest.raises(DatasetLayoutError, match="Missing file: .*exp/test_id.txt") as err:
        SYSUMM01(cfg)
    assert "Expected layout" in str(err.value) and "cam1 .. cam6" in str(err.value)


def test_sysu_missing_camera_folder(make_sysu, cfg):
    root = make_sysu()
    shutil.rmtree(os.path.join(root, "cam4"))
    with pytest.raises(DatasetLayoutError, match=f"Missing folder: {root}/cam4"):
        SYSUMM01(cfg)


def test_sysu_empty_camera_folder_is_an_error(make_sysu, cfg):
    root = make_sysu()
    folder = os.path.join(root, "cam3", "0002")
    for name in os.listdir(folder):
        os.remove(os.path.join(folder, name))
    with pytest.raises(DatasetLayoutError, match=f"Empty camera folder: {folder}"):
        SYSUMM01(cfg)


def test_sysu_empty_id_list_is_an_error(make_sysu, cfg):
    root = make_sysu()
    open(os.path.join(root, "exp", "val_id.txt"), "w").close()
    with pytest.raises(DatasetLayoutError, match="Empty id list: .*val_id.txt"):
        SYSUMM01(cfg)


def test_sysu_listed_identity_without_images(make_sysu, cfg):
    root = make_sysu()
    write_ids(os.path.join(root, "exp", "test_id.txt"), [5, 6, 99])
    with pytest.raises(DatasetLayoutError, match="Identity 99 listed in .*test_id.txt"):
        SYSUMM01(cfg)


def test_sysu_bad_id_line(make_sysu, cfg):
    root = make_sysu()
    with open(os.path.join(root, "exp", "train_id.txt"), "w") as f:
        f.write("1,2,x\n")
    with pytest.raises(DatasetLayoutError, match="train_id.txt: expected comma-separated integers"):
        SYSUMM01(cfg)


def test_unknown_dataset_lists_registered_names(cfg):
    with pytest.raises(KeyError, match="SYSUMM01"):
        build_dataset(cfg, "SYSU")


# ----------------------------------------------------------------------------- RegDB
def test_regdb_reads_trial_lists(make_regdb, cfg):
    make_regdb(trial=3, train=(10, 11, 12), test=(20, 21), images=2)
    cfg.DATASETS.REGDB_TRIAL = 3
    dataset = build_dataset(cfg, "RegDB")
    assert dataset.default_evaluator == "RegDBEvaluator"
    assert dataset.num_train_pids == 3 and len(dataset.train) == 3 * 2 * 2
    assert sorted({it.pid for it in dataset.train}) == [0, 1, 2]
    assert sorted({it.pid for it in dataset.test}) == [20, 21]
    for item in dataset.train + dataset.test:
        assert item.modality == (VISIBLE if "/Visible/" in item.path else INFRARED)
        assert os.path.isfile(item.path)
    assert sum(it.modality == INFRARED for it in dataset.test) == 4


def test_regdb_missing_list_and_bad_trial(make_regdb, cfg):
    root = make_regdb(trial=1)
    os.remove(os.path.join(root, "idx", "test_thermal_1.txt"))
    with pytest.raises(DatasetLayoutError, match="Missing file: .*idx/test_thermal_1.txt") as err:
        RegDB(cfg)
    assert "train_visible_<t>.txt" in str(err.value)
    cfg.DATASETS.REGDB_TRIAL = 11
    with pytest.raises(ValueError, match="DATASETS.REGDB_TRIAL must be in 1..10, got 11"):
        RegDB(cfg)


def test_regdb_listed_image_missing_and_malformed_line(make_regdb, cfg):
    root = make_regdb(trial=1)
    list_path = os.path.join(root, "idx", "train_visible_1.txt")
    with open(list_path) as f:
        first = f.readline().split()[0]
    os.remove(os.path.join(root, first))
    with pytest.raises(DatasetLayoutError, match=f"train_visible_1.txt:1: listed image does not exist: .*{first}"):
        RegDB(cfg)
    with open(list_path, "w") as f:
        f.write("Visible/a.bmp\n")
    with pytest.raises(DatasetLayoutError, match="train_visible_1.txt:1: expected 'relative/path label'"):
        RegDB(cfg)


# ----------------------------------------------------------------------------- LLCM
def test_llcm_reads_official_layout(make_llcm, cfg):
    make_llcm(train=(3, 7), test=(8, 9), images=2, vis_cams=(1, 2), nir_cams=(1, 4))
    dataset = build_dataset(cfg, "LLCM")
    assert dataset.default_evaluator == "LLCMEvaluator"
    assert dataset.num_train_pids == 2 and len(dataset.train) == 2 * 2 * 2 * 2
    assert {(it.modality, it.camid) for it in dataset.train} == {
        (VISIBLE, 1), (VISIBLE, 2), (INFRARED, 1), (INFRARED, 4)
    }
    assert sorted({it.pid for it in dataset.test}) == [8, 9]
    assert {(it.modality, it.camid) for it in dataset.test} == {(VISIBLE, 1), (VISIBLE, 2), (INFRARED, 1), (INFRARED, 4)}
    assert all(("/test_nir/" in it.path) == (it.modality == INFRARED) for it in dataset.test)


def test_llcm_test_cameras_are_those_of_the_released_script(make_llcm, cfg, caplog):
    """test_nir/cam3 and test_vis/cam10 are no test cameras of LLCM's released test script: they
    are left out (with a warning naming them), so they cannot change the queries or the draws."""
    root = make_llcm(vis_cams=(1, 10), nir_cams=(2, 3))
    with caplog.at_level(logging.WARNING, logger="partreid.data.datasets.llcm"):
        dataset = LLCM(cfg)
    assert {(it.modality, it.camid) for it in dataset.test} == {(VISIBLE, 1), (INFRARED, 2)}
    assert f"ignoring {root}/test_vis/cam10" in caplog.text and f"ignoring {root}/test_nir/cam3" in caplog.text
    assert {(it.modality, it.camid) for it in dataset.train} == {
        (VISIBLE, 1), (VISIBLE, 10), (INFRARED, 2), (INFRARED, 3)
    }  # training reads the idx lists, as the released training script does
    shutil.rmtree(os.path.join(root, "test_nir", "cam2"))
    with pytest.raises(DatasetLayoutError, match=r"No test camera folder .* in .*test_nir \(expected some of cam1, cam2, cam4"):
        LLCM(cfg)


def test_llcm_missing_test_ids_and_empty_camera(make_llcm, cfg):
    root = make_llcm()
    folder = os.path.join(root, "test_nir", "cam4", "0009")
    shutil.rmtree(folder)
    os.makedirs(folder)
    with pytest.raises(DatasetLayoutError, match=f"Empty camera folder: {folder}"):
        LLCM(cfg)
    os.remove(os.path.join(root, "idx", "test_id.txt"))
    with pytest.raises(DatasetLayoutError, match="Missing file: .*idx/test_id.txt") as err:
        LLCM(cfg)
    assert "train_vis.txt" in str(err.value)


def test_llcm_train_path_without_camera(make_llcm, cfg):
    root = make_llcm()
    write_image(os.path.join(root, "train_vis", "loose.jpg"), 1)
    with open(os.path.join(root, "idx", "train_vis.txt"), "a") as f:
        f.write("train_vis/loose.jpg 3\n")
    with pytest.raises(DatasetLayoutError, match="Cannot tell the camera of .*loose.jpg"):
        LLCM(cfg)


# ----------------------------------------------------------------------------- SynthVI
@pytest.fixture
def fake_generator(monkeypatch, make_sysu):
    """Stands in for partreid.data.synthvi.generate_synthvi: writes a tiny SYSU tree plus the
    marker, and records its calls."""
    calls = []

    def generate_synthvi(root, num_train_ids, num_test_ids, images_per_camera, image_size, seed):
        calls.append(dict(num_train_ids=num_train_ids, seed=seed))
        shutil.rmtree(root, ignore_errors=True)
        ids = tuple(range(1, num_train_ids + num_test_ids + 1))
        make_sysu(train=ids[: num_train_ids - 1], val=ids[num_train_ids - 1 : num_train_ids],
                  test=ids[num_train_ids:], images=images_per_camera, folder="SynthVI")
        parameters = dict(version=1, num_train_ids=num_train_ids, num_test_ids=num_test_ids,
                          images_per_camera=images_per_camera, image_size=list(image_size), seed=seed)
        with open(os.path.join(root, "SYNTHVI_DONE.json"), "w") as f:
            json.dump({"parameters": parameters, "summary": {}}, f)
        return {}

    monkeypatch.setattr(synthvi_package, "generate_synthvi", generate_synthvi)
    return calls


def test_synthvi_generates_with_config_parameters_then_reads_sysu_layout(fake_generator, cfg):
    cfg.DATASETS.SYNTHVI.NUM_TRAIN_IDS = 3
    cfg.DATASETS.SYNTHVI.NUM_TEST_IDS = 2
    cfg.DATASETS.SYNTHVI.IMAGES_PER_CAMERA = 1
    cfg.DATASETS.SYNTHVI.SEED = 5
    dataset = build_dataset(cfg, "SynthVI")
    assert fake_generator == [dict(num_train_ids=3, seed=5)]
    assert dataset.root == os.path.join(cfg.DATASETS.ROOT, "SynthVI")
    assert dataset.default_evaluator == "SYSUEvaluator"
    assert dataset.num_train_pids == 3 and len(dataset.train) == 3 * 6
    assert sorted({it.pid for it in dataset.test}) == [4, 5]


def test_synthvi_fails_when_generation_leaves_another_marker(fake_generator, monkeypatch, cfg):
    cfg.DATASETS.SYNTHVI.NUM_TRAIN_IDS, cfg.DATASETS.SYNTHVI.NUM_TEST_IDS = 3, 2
    cfg.DATASETS.SYNTHVI.IMAGES_PER_CAMERA = 1
    generate = synthvi_package.generate_synthvi
    monkeypatch.setattr(synthvi_package, "generate_synthvi",
                        lambda root, **params: generate(root, **dict(params, seed=params["seed"] + 1)))
    with pytest.raises(DatasetLayoutError, match="SynthVI at .* was not generated: .*SYNTHVI_DONE.json"):
        SynthVI(cfg)


def test_synthvi_without_auto_generate_requires_matching_marker(fake_generator, cfg, make_sysu):
    cfg.DATASETS.SYNTHVI.AUTO_GENERATE = False
    with pytest.raises(DatasetLayoutError, match="SynthVI at .* is missing or was generated with other parameters"):
        SynthVI(cfg)
    root = make_sysu(folder="SynthVI")
    params = dict(num_train_ids=64, num_test_ids=32, images_per_camera=4, image_size=[128, 64], seed=1)
    with open(os.path.join(root, "SYNTHVI_DONE.json"), "w") as f:
        json.dump({"parameters": params}, f)
    with pytest.raises(DatasetLayoutError, match="does not record"):
        SynthVI(cfg)
    cfg.DATASETS.SYNTHVI.SEED = 1
    dataset = SynthVI(cfg)
    assert dataset.default_evaluator == "SYSUEvaluator" and dataset.num_train_pids == 4
    assert fake_generator == []


def test_synthvi_with_real_generator(cfg):
    cfg.DATASETS.SYNTHVI.NUM_TRAIN_IDS = 10
    cfg.DATASETS.SYNTHVI.NUM_TEST_IDS = 4
    cfg.DATASETS.SYNTHVI.IMAGES_PER_CAMERA = 1
    cfg.DATASETS.SYNTHVI.IMAGE_SIZE = [32, 16]
    dataset = build_dataset(cfg, "SynthVI")
    assert dataset.root == os.path.join(cfg.DATASETS.ROOT, "SynthVI")
    assert dataset.num_train_pids == 10 and len({it.pid for it in dataset.test}) == 4
    assert {it.modality for it in dataset.train} == {VISIBLE, INFRARED}
    marker = os.path.join(dataset.root, "SYNTHVI_DONE.json")
    stamp = os.stat(marker).st_mtime_ns
    build_dataset(cfg, "SynthVI")  # same parameters: the tree is reused
    assert os.stat(marker).st_mtime_ns == stamp
    cfg.DATASETS.SYNTHVI.SEED = 3  # other parameters: regenerated
    assert json.load(open(marker))["parameters"]["seed"] == 0
    build_dataset(cfg, "SynthVI")
    assert json.load(open(marker))["parameters"]["seed"] == 3


def test_all_four_datasets_registered():
    assert {"SYSUMM01", "RegDB", "LLCM", "SynthVI"} <= {name for name, _ in DATASET_REGISTRY}
