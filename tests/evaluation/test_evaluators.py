"""Protocols on fake datasets (evaluators only need the items) and the inference loop."""
import os
import random

import numpy as np
import pytest
import scipy.io
import torch
import torch.nn.functional as F
from torch import nn

from partreid.config import get_cfg
from partreid.data.datasets.base import INFRARED, VISIBLE, ReidDataset, ReidItem
from partreid.evaluation import (
    LLCMEvaluator,
    RegDBEvaluator,
    ReidEvaluator,
    SYSUEvaluator,
    build_evaluator,
    flatten_results,
    inference_on_dataset,
    print_results_table,
    rank_gallery,
)
from partreid.evaluation import evaluator as evaluator_module
from partreid.evaluation.evaluator import fuse_flipped
from partreid.evaluation.sysu import sysu_camera_rule

METRICS = {"Rank-1", "Rank-5", "Rank-10", "Rank-20", "mAP", "mINP"}


def sysu_items(root, pids=(1, 2, 3), vis_cams=(1, 2, 4, 5), ir_cams=(3, 6), per_cam=3):
    items = []
    for pid in pids:
        for cam in vis_cams + ir_cams:
            modality = VISIBLE if cam in vis_cams else INFRARED
            for n in range(1, per_cam + 1):
                items.append(ReidItem(f"{root}/cam{cam}/{pid:04d}/{n:04d}.jpg", pid, cam, modality))
    return items


def make_cfg(**test_keys):
    cfg = get_cfg()
    cfg.TEST.NUM_TRIALS = 3
    for key, value in test_keys.items():
        node = cfg.TEST
        *parents, last = key.split("__")
        for p in parents:
            node = node[p]
        node[last] = value
    return cfg


def feed(evaluator, features, batch_size=4):
    evaluator.reset()
    for start in range(0, features.shape[0], batch_size):
        idx = torch.arange(start, min(start + batch_size, features.shape[0]))
        evaluator.process({"indices": idx}, features[idx])
    return evaluator.evaluate()


def test_sysu_camera_rule_mask():
    keep = sysu_camera_rule([3, 6], [1, 2, 4])(torch.arange(2))
    assert keep.tolist() == [[True, False, True], [True, True, True]]


def test_sysu_cam3_queries_never_see_cam2(tmp_path):
    # Every query matches its identity's cam-2 images exactly; cam-1 images look most
    # like the next identity. Cam-6 queries hit R1; cam-3 queries cannot see cam 2 and miss.
    items = sysu_items(str(tmp_path), vis_cams=(1, 2), per_cam=2)
    eye = torch.eye(3)
    feats = torch.stack(
        [eye[it.pid % 3] + 0.3 * eye[it.pid - 1] if it.camid == 1 else eye[it.pid - 1] for it in items]
    )
    ev = SYSUEvaluator(make_cfg(SYSU__MODES=["indoor"]), ReidDataset(str(tmp_path), [], items))
    results = feed(ev, feats)
    assert list(results) == ["indoor_search_1shot", "indoor_search_10shot"]  # both settings by default
    assert results["indoor_search_1shot"]["Rank-1"] == pytest.approx(50.0)
    assert results["indoor_search_1shot"]["Rank-1_std"] == pytest.approx(0.0)
    assert METRICS <= set(results["indoor_search_1shot"])


def test_sysu_seeded_draw_matches_agw_and_is_deterministic(tmp_path):
    items = sysu_items(str(tmp_path), per_cam=12)
    ev = SYSUEvaluator(make_cfg(SYSU__SHOTS=[1, 10]), ReidDataset(str(tmp_path), [], items))
    assert ev.official is None
    for trial in range(3):
        random.seed(trial)  # AGW's process_gallery_sysu, written out
        expected = []
        for pid in (1, 2, 3):
            for cam in (1, 2, 4, 5):
                expected.append(random.choice(sorted(f"{tmp_path}/cam{cam}/{pid:04d}/{n:04d}.jpg" for n in range(1, 13))))
        assert [items[i].path for i in ev.gallery("all", 1, trial)] == expected
    assert ev.gallery("all", 10, 1) == ev.gallery("all", 10, 1)
    assert ev.gallery("all", 1, 0) != ev.gallery("all", 1, 1)
    assert len(ev.gallery("all", 1, 0)) == 3 * 4 and len(ev.gallery("indoor", 1, 0)) == 3 * 2
    assert len(ev.gallery("all", 10, 0)) == 3 * 4 * 10 and len(set(ev.gallery("all", 10, 0))) == 120
    small = SYSUEvaluator(make_cfg(), ReidDataset(str(tmp_path), [], sysu_items(str(tmp_path), per_cam=3)))
    assert len(small.gallery("all", 10, 0)) == 3 * 4 * 3  # fewer than 10 images: all of them


def write_rand_perm_cam(root, num_ids, per_cam, trials, seed=0):
    """rand_perm_cam.mat in the official layout: 6x1 cell of (ids x 1) cells of trials x images."""
    rng = np.random.default_rng(seed)
    cams = np.empty((6, 1), dtype=object)
    for c in range(6):
        cell = np.empty((num_ids, 1), dtype=object)
        for pid in range(num_ids):
            cell[pid, 0] = np.stack([rng.permutation(per_cam) + 1 for _ in range(trials)]).astype(np.float64)
        cams[c, 0] = cell
    os.makedirs(os.path.join(root, "exp"), exist_ok=True)
    scipy.io.savemat(os.path.join(root, "exp", "rand_perm_cam.mat"), {"rand_perm_cam": cams})
    return cams


def test_sysu_official_mat_draws(tmp_path):
    root = str(tmp_path)
    items = sysu_items(root, pids=(1, 2, 3), per_cam=12)
    perms = write_rand_perm_cam(root, num_ids=4, per_cam=12, trials=2)
    ev = SYSUEvaluator(make_cfg(SYSU__SHOTS=[1, 10]), ReidDataset(root, [], items))
    assert ev.official is not None
    for trial in range(2):
        for shots in (1, 10):
            expected = [
                f"{root}/cam{cam}/{pid:04d}/{int(n):04d}.jpg"
                for pid in (1, 2, 3)
                for cam in (1, 2, 4, 5)
                for n in perms[cam - 1, 0][pid - 1, 0][trial][:shots]
            ]
            assert [items[i].path for i in ev.gallery("all", shots, trial)] == expected
    with pytest.raises(ValueError, match="no trial 2 permutation"):
        ev.gallery("all", 1, 2)  # the file only holds 2 trials
    assert (ev.draw_name(1), ev.draw_name(10)) == ("official", "official")
    # DRAWS "seeded" draws AGW's single-shot galleries although the .mat file is there
    seeded = SYSUEvaluator(make_cfg(SYSU__DRAWS="seeded"), ReidDataset(root, [], items))
    assert seeded.official is None
    assert (seeded.draw_name(1), seeded.draw_name(10)) == ("agw_seeded", "partreid_seeded")
    random.seed(1)
    agw = [random.choice(sorted(f"{root}/cam{cam}/{pid:04d}/{n:04d}.jpg" for n in range(1, 13)))
           for pid in (1, 2, 3) for cam in (1, 2, 4, 5)]
    assert [items[i].path for i in seeded.gallery("all", 1, 1)] == agw
    with pytest.raises(ValueError, match="TEST.SYSU.DRAWS"):
        SYSUEvaluator(make_cfg(SYSU__DRAWS="agw"), ReidDataset(root, [], items))


def test_sysu_results_record_their_draw(tmp_path, caplog):
    """Every SYSU group names its draw, in the results, the flattened metrics and the table; the
    official source without its file falls back to seeded draws with a warning."""
    items = sysu_items(str(tmp_path), per_cam=3)
    feats = torch.eye(3)[[it.pid - 1 for it in items]]
    with caplog.at_level("WARNING", logger="partreid.evaluation.sysu"):
        ev = SYSUEvaluator(make_cfg(SYSU__SHOTS=[1, 10]), ReidDataset(str(tmp_path), [], items))
    assert "rand_perm_cam.mat not found" in caplog.text
    results = feed(ev, feats)
    assert [r["draw"] for r in results.values()] == ["agw_seeded", "partreid_seeded"] * 2
    assert flatten_results(results)["all_search_10shot/draw"] == "partreid_seeded"
    table = print_results_table(results)
    assert "agw_seeded" in table and "partreid_seeded" in table and "100.00" in table
    write_rand_perm_cam(str(tmp_path), num_ids=4, per_cam=3, trials=3)
    official = feed(SYSUEvaluator(make_cfg(), ReidDataset(str(tmp_path), [], items)), feats)
    assert official["all_search_1shot"]["draw"] == "official"


def regdb_items(num_ids=4, per_modality=3):
    items = []
    for pid in range(num_ids):
        for modality, cam in ((VISIBLE, 1), (INFRARED, 2)):
            for n in range(per_modality):
                items.append(ReidItem(f"p{pid}_m{modality}_{n}.jpg", pid, cam, modality))
    return items


def test_regdb_both_directions_equal_direct_ranking():
    items = regdb_items()
    feats = torch.randn(len(items), 6, generator=torch.Generator().manual_seed(0))
    results = feed(RegDBEvaluator(make_cfg(), ReidDataset("regdb", [], items)), feats)
    assert list(results) == ["visible_to_thermal", "thermal_to_visible"]
    for name, (qm, gm) in (("visible_to_thermal", (VISIBLE, INFRARED)), ("thermal_to_visible", (INFRARED, VISIBLE))):
        q = [i for i, it in enumerate(items) if it.modality == qm]
        g = [i for i, it in enumerate(items) if it.modality == gm]
        direct = rank_gallery(
            [items[i].pid for i in q], [items[i].pid for i in g], query_features=feats[q], gallery_features=feats[g]
        ).summary()
        assert results[name] == pytest.approx(direct)
    assert results["visible_to_thermal"] != results["thermal_to_visible"]
    # Same pid and camid everywhere would be removed by the ReID rule; RegDB removes nothing.
    same_cam = [ReidItem(it.path, it.pid, 1, it.modality) for it in items]
    perfect = torch.eye(4)[[it.pid for it in items]]
    assert feed(RegDBEvaluator(make_cfg(), ReidDataset("regdb", [], same_cam)), perfect)["visible_to_thermal"]["mAP"] == 100.0


def test_identities_in_one_modality_are_reported_not_dropped_silently(caplog):
    """Identity 1 has no infrared image and identity 3 no visible one: their queries have no match,
    which the log and every result group say, with the ids."""
    items = [it for it in regdb_items() if not (it.pid == 1 and it.modality == INFRARED)
             and not (it.pid == 3 and it.modality == VISIBLE)]
    feats = torch.randn(len(items), 6, generator=torch.Generator().manual_seed(0))
    with caplog.at_level("WARNING", logger="partreid.evaluation.evaluator"):
        results = feed(RegDBEvaluator(make_cfg(), ReidDataset("regdb", [], items)), feats)
    assert "2 test identities have images of one modality only" in caplog.text and "Identities: 1 3" in caplog.text
    for metrics in results.values():
        assert metrics["ids_one_modality"] == 2 and metrics["ids_one_modality_list"] == "1 3"
    assert "ids_one_modality" not in feed(RegDBEvaluator(make_cfg(), ReidDataset("regdb", [], regdb_items())),
                                          torch.randn(24, 6))["visible_to_thermal"]


def llcm_items():
    items = []
    for pid in range(3):
        for modality, cams in ((VISIBLE, (1, 2, 3)), (INFRARED, (1, 2))):
            for cam in cams:
                for n in range(2):
                    items.append(ReidItem(f"{'vis' if modality == VISIBLE else 'nir'}/cam{cam}/{pid:04d}_{n}.jpg", pid, cam, modality))
    return items


def test_llcm_directions_and_camera_removal():
    items = llcm_items()
    ds = ReidDataset("llcm", [], items)
    ev = LLCMEvaluator(make_cfg(), ds)
    q, g = ev.queries_and_gallery("infrared_to_visible", 0)
    assert all(items[i].modality == INFRARED for i in q) and len(q) == 12
    assert all(items[i].modality == VISIBLE for i in g) and len(g) == 3 * 3
    q, g = ev.queries_and_gallery("visible_to_infrared", 0)  # as released: drawn IR rows
    assert all(items[i].modality == INFRARED for i in q) and len(q) == 3 * 2 and len(g) == 18
    ev2 = LLCMEvaluator(make_cfg(LLCM__VIS_TO_IR_AS_RELEASED=False), ds)
    q2, g2 = ev2.queries_and_gallery("visible_to_infrared", 0)
    assert len(q2) == 18 and sorted(g2) == sorted(q)
    # Identity features: a query's only same-camera match is removed, others still match.
    perfect = torch.eye(3)[[it.pid for it in items]]
    results = feed(ev, perfect)
    assert list(results) == ["infrared_to_visible", "visible_to_infrared"]
    assert results["infrared_to_visible"]["Rank-1"] == 100.0
    assert results["infrared_to_visible"]["mAP"] == pytest.approx(100.0)
    assert "mAP_std" in results["visible_to_infrared"]


def test_reid_evaluator_roles_and_removal():
    items = [
        ReidItem("q0", 0, 0, VISIBLE, "query"),
        ReidItem("g0_same_cam", 0, 0, VISIBLE, "gallery"),
        ReidItem("g1", 1, 1, VISIBLE, "gallery"),
        ReidItem("g0_other_cam", 0, 1, VISIBLE, "gallery"),
    ]
    # The same-camera match is nearest but removed, so the distractor g1 ranks first.
    feats = torch.tensor([[1.0, 0.0], [1.0, 0.0], [0.9, 0.1], [0.0, 1.0]])
    results = feed(ReidEvaluator(make_cfg(), ReidDataset("m", [], items)), feats)
    assert list(results) == ["reid"]
    assert results["reid"]["Rank-1"] == 0.0 and results["reid"]["mAP"] == pytest.approx(50.0)
    with pytest.raises(ValueError, match="role 'query'"):
        feed(ReidEvaluator(make_cfg(), ReidDataset("m", [], regdb_items())), torch.randn(24, 4))


def test_build_evaluator_and_bad_config(tmp_path):
    ds = ReidDataset(str(tmp_path), [], sysu_items(str(tmp_path)))
    ds.default_evaluator = "SYSUEvaluator"
    assert isinstance(build_evaluator(make_cfg(), ds), SYSUEvaluator)
    with pytest.raises(ValueError, match="TEST.SYSU.MODES"):
        SYSUEvaluator(make_cfg(SYSU__MODES=["outdoor"]), ds)
    with pytest.raises(KeyError, match="Registered"):
        build_evaluator(make_cfg(EVALUATOR="Nope"), ds)


def test_missing_items_and_ddp_gather(monkeypatch):
    items = regdb_items()
    feats = torch.randn(len(items), 5, generator=torch.Generator().manual_seed(1))
    ev = RegDBEvaluator(make_cfg(), ReidDataset("r", [], items))
    ev.process({"indices": torch.arange(5)}, feats[:5])
    with pytest.raises(RuntimeError, match="got no feature"):
        ev.evaluate()
    expected = feed(ev, feats)
    # Two ranks, each with half of the items (plus a padded repeat): rank 0 gets it all.
    half = len(items) // 2
    rank1 = ([torch.arange(half, len(items)), torch.tensor([0])], [feats[half:], feats[:1]])
    ev.reset()
    ev.process({"indices": torch.arange(half)}, feats[:half])
    monkeypatch.setattr(evaluator_module.comm, "all_gather", lambda obj: [obj, rank1])
    gathered = ev.evaluate()
    assert list(gathered) == list(expected)
    for group, metrics in expected.items():
        assert gathered[group] == pytest.approx(metrics)
    monkeypatch.setattr(evaluator_module.comm, "is_main_process", lambda: False)
    assert ev.evaluate() == {}


class ColumnModel(nn.Module):
    """Features = per-column means of the image; records its mode and inputs."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def forward(self, batch):
        self.calls.append((self.training, batch["images"]))
        return batch["images"].float().mean(dim=(1, 2))


def test_inference_end_to_end_with_flip():
    items = regdb_items()
    images = torch.zeros(len(items), 3, 2, 8, dtype=torch.uint8)
    for i, it in enumerate(items):
        images[i, :, :, it.pid] = 200  # identity in the left half; the flip moves it right
    loader = [
        {"images": images[s : s + 5], "indices": torch.arange(s, min(s + 5, len(items))), "targets": torch.zeros(1)}
        for s in range(0, len(items), 5)
    ]
    model = ColumnModel().train()
    ev = RegDBEvaluator(make_cfg(FLIP_FEATURES=True), ReidDataset("r", [], items))
    results = inference_on_dataset(model, loader, ev)
    assert model.training and {mode for mode, _ in model.calls} == {False}
    assert len(model.calls) == 2 * len(loader)  # original + flipped
    assert torch.equal(model.calls[1][1], model.calls[0][1].flip(-1))
    assert results["visible_to_thermal"]["Rank-1"] == 100.0
    assert results["visible_to_thermal"]["mAP"] == 100.0
    flat = flatten_results(results)
    assert flat["thermal_to_visible/mAP"] == results["thermal_to_visible"]["mAP"]
    table = print_results_table(results)
    assert "visible_to_thermal" in table and "mINP" in table
    assert "±" in print_results_table({"g": {"mAP": 1.0, "mAP_std": 0.5}})


def test_flip_fusion_sum_normalized_ranks_by_dot_product():
    """DEEN's variant: the fused feature is normalize(f) + normalize(flip(f)), not normalised
    again, and the ranking is by its dot product, which can order a gallery differently from
    the cosine of the same features."""
    a, b = torch.randn(4, 5), torch.randn(4, 5)
    torch.testing.assert_close(fuse_flipped(a, b, "sum_normalized"), F.normalize(a, dim=1) + F.normalize(b, dim=1))
    torch.testing.assert_close(fuse_flipped(a, b, "mean"), (a + b) / 2)
    # one visible query (pid 0); thermal gallery: pid 1 at a small angle but long (views that
    # agree), pid 0 closer in angle but short (views that disagree)
    items = [ReidItem("q", 0, 1, VISIBLE), ReidItem("g_other", 1, 2, INFRARED), ReidItem("g_same", 0, 2, INFRARED)]
    feats = torch.tensor([[2.0, 0.0], [1.9, 0.6], [0.9, 0.1]])
    cfg = make_cfg(FLIP_FEATURES=True, FLIP_FUSION="sum_normalized", REGDB__DIRECTIONS=["visible_to_thermal"])
    dot = feed(RegDBEvaluator(cfg, ReidDataset("r", [], items)), feats)["visible_to_thermal"]
    cosine = feed(RegDBEvaluator(make_cfg(FLIP_FEATURES=True, REGDB__DIRECTIONS=["visible_to_thermal"]),
                                 ReidDataset("r", [], items)), feats)["visible_to_thermal"]
    assert (dot["Rank-1"], dot["mAP"]) == (0.0, 50.0) and (cosine["Rank-1"], cosine["mAP"]) == (100.0, 100.0)
    with pytest.raises(ValueError, match="TEST.FLIP_FUSION"):
        RegDBEvaluator(make_cfg(FLIP_FUSION="max"), ReidDataset("r", [], items))


def test_inference_fuses_flips_as_configured():
    items = regdb_items()
    images = torch.randint(0, 256, (len(items), 3, 2, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(2))
    loader = [{"images": images, "indices": torch.arange(len(items))}]
    ev = RegDBEvaluator(make_cfg(FLIP_FEATURES=True, FLIP_FUSION="sum_normalized"), ReidDataset("r", [], items))
    inference_on_dataset(ColumnModel(), loader, ev)
    means = images.float().mean(dim=(1, 2))
    torch.testing.assert_close(ev._features[0], fuse_flipped(means, images.flip(-1).float().mean(dim=(1, 2)),
                                                             "sum_normalized"))


def test_inference_restores_mode_on_error():
    class Broken(nn.Module):
        def forward(self, batch):
            raise RuntimeError("boom")

    model = Broken().train()
    ev = RegDBEvaluator(make_cfg(), ReidDataset("r", [], regdb_items()))
    with pytest.raises(RuntimeError, match="boom"):
        inference_on_dataset(model, [{"images": torch.zeros(1, 3, 2, 2, dtype=torch.uint8), "indices": torch.tensor([0])}], ev)
    assert model.training
