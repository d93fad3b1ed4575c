"""Part-discovery metrics on hand-made maps and masks whose answers are known."""
import json

import numpy as np
import pytest
import torch

from partreid.evaluation.part_discovery import (
    format_part_discovery_table,
    matched_parts,
    part_discovery_metrics,
    part_fractions,
)

NAMES = ("background", "head", "upper_body", "lower_body", "feet", "bag")


def person_mask():
    """8x4 cells: head 2 cells wide in rows 0-1, upper body rows 2-4, lower body rows 5-6, feet
    row 7 (columns 0-2), background elsewhere; no bag."""
    mask = np.zeros((8, 4), np.uint8)
    mask[0:2, 1:3] = 1
    mask[2:5, 0:3] = 2
    mask[5:7, 0:3] = 3
    mask[7, 0:3] = 4
    return mask


def indicator(part):
    return torch.from_numpy((person_mask() == part).astype(np.float32))


@pytest.fixture
def case():
    """4 images of the same mask and 5 maps: the head's indicator; a uniform 0.5; zeros; the
    head's indicator again; the head's indicator on the first image only."""
    n = 4
    masks = torch.from_numpy(np.stack([person_mask()] * n))
    maps = torch.zeros(n, 5, 8, 4)
    maps[:, 0] = indicator(1)
    maps[:, 1] = 0.5
    maps[:, 3] = indicator(1)
    maps[0, 4] = indicator(1)
    return maps, masks


def test_an_indicator_map_is_pure_and_matches_its_part(case):
    metrics = part_discovery_metrics(*case, NAMES)
    assert metrics["map1/purity"] == pytest.approx(1.0)
    assert metrics["map1/share/head"] == pytest.approx(1.0) and metrics["map1/share/background"] == 0.0
    assert metrics["map1/alive"] == 1.0 and metrics["map1/alive_images"] == 1.0
    assert matched_parts(metrics)[0] == ("head", pytest.approx(1.0))


def test_a_uniform_map_gets_the_uniform_purity(case):
    metrics = part_discovery_metrics(*case, NAMES)
    area = {name: float((person_mask() == p).mean()) for p, name in enumerate(NAMES)}
    assert metrics["uniform_purity"] == pytest.approx(area["upper_body"]) == pytest.approx(9 / 32)
    assert metrics["map2/purity"] == pytest.approx(metrics["uniform_purity"])
    for name in NAMES:
        assert metrics[f"map2/share/{name}"] == pytest.approx(area[name])
        assert metrics[f"uniform/share/{name}"] == pytest.approx(area[name])
    assert matched_parts(metrics)[1][0] == "upper_body"


def test_dead_maps_and_alive_fraction(case):
    metrics = part_discovery_metrics(*case, NAMES)
    assert metrics["map3/alive"] == 0.0 and metrics["map3/alive_images"] == 0.0 and metrics["map3/purity"] == 0.0
    assert matched_parts(metrics)[2] == ("none", 0.0)
    assert metrics["map5/alive_images"] == 0.25 and metrics["map5/alive"] == 0.0  # alive on 1 of 4 images
    assert part_discovery_metrics(*case, NAMES, alive_min_fraction=0.2)["map5/alive"] == 1.0
    # the head indicator's mean activation is 4/32: below a threshold of 0.2 it is dead
    assert part_discovery_metrics(*case, NAMES, alive_threshold=0.2)["map1/alive"] == 0.0


def test_coverage_overlap_and_mean_purity(case):
    metrics = part_discovery_metrics(*case, NAMES)
    assert metrics["maps_alive"] == 3.0  # maps 1, 2, 4
    assert metrics["coverage"] == 2.0  # head (maps 1 and 4) and upper body (the uniform map 2)
    assert metrics["mean_purity"] == pytest.approx((1.0 + 9 / 32 + 1.0) / 3)
    # soft IoU per pair: head vs uniform = 4*0.5 / (4*1 + 28*0.5) = 1/9; head vs head = 1;
    # head vs head-on-one-image-of-four = 1/4; uniform vs that = (0.5*4) / (4*1 + 28*0.5 + 3*16) = 2/66;
    # every pair with the zero map = 0
    pairs = [1 / 9, 0, 1, 1 / 4, 0, 1 / 9, 2 / 66, 0, 0, 1 / 4]
    assert metrics["overlap"] == pytest.approx(np.mean(pairs))


def test_a_map_on_the_background_matches_no_part():
    masks = torch.from_numpy(np.stack([person_mask()] * 2))
    maps = torch.stack([indicator(0), indicator(1)])[None].repeat(2, 1, 1, 1)
    metrics = part_discovery_metrics(maps, masks, NAMES)
    assert metrics["map1/share/background"] == 1.0 and metrics["map1/purity"] == 0.0 and metrics["map1/alive"] == 1.0
    assert matched_parts(metrics) == [("none", 0.0), ("head", 1.0)] and metrics["coverage"] == 1.0


def test_disjoint_maps_covering_every_part():
    masks = torch.from_numpy(np.stack([person_mask()] * 2))
    maps = torch.stack([indicator(p) for p in (1, 2, 3, 4)])[None].repeat(2, 1, 1, 1)
    metrics = part_discovery_metrics(maps, masks, NAMES)
    assert metrics["coverage"] == 4.0 and metrics["overlap"] == 0.0 and metrics["mean_purity"] == pytest.approx(1.0)
    assert [part for part, _ in matched_parts(metrics)] == ["head", "upper_body", "lower_body", "feet"]


def test_masks_finer_than_the_maps_are_area_pooled():
    mask = np.zeros((16, 8), np.int64)
    mask[0, :] = 1  # the top half of the first row of cells
    fractions = part_fractions(torch.from_numpy(mask)[None], 3, (8, 4))
    assert fractions.shape == (1, 3, 8, 4)
    assert torch.allclose(fractions[0, 1, 0], torch.full((4,), 0.5)) and fractions[0, 1, 1:].sum() == 0
    assert torch.allclose(fractions.sum(dim=1), torch.ones(1, 8, 4))
    # a map on the first row of cells is half head, half background at this resolution
    maps = torch.zeros(1, 1, 8, 4)
    maps[0, 0, 0] = 1.0
    metrics = part_discovery_metrics(maps, torch.from_numpy(mask)[None], NAMES[:3])
    assert metrics["map1/purity"] == pytest.approx(0.5) and metrics["map1/share/background"] == pytest.approx(0.5)


def test_table_survives_a_metrics_json_round_trip(case):
    metrics = part_discovery_metrics(*case, NAMES)
    reread = json.loads(json.dumps(metrics, sort_keys=True))
    assert matched_parts(reread) == matched_parts(metrics)
    for table in (format_part_discovery_table(metrics), format_part_discovery_table(reread)):
        assert "| uniform map " in table and "| map 5 " in table and "| feet " in table
        assert "maps alive 3/5, coverage 2 of 5 body parts" in table


def test_bad_inputs_are_named():
    maps, masks = torch.zeros(2, 1, 8, 4), torch.zeros(2, 8, 4, dtype=torch.uint8)
    with pytest.raises(ValueError, match="must start with 'background'"):
        part_discovery_metrics(maps, masks, ("head", "background"))
    with pytest.raises(ValueError, match="do not index"):
        part_discovery_metrics(maps, masks + 6, NAMES)
    with pytest.raises(ValueError, match="non-negative"):
        part_discovery_metrics(maps - 1, masks, NAMES)
    with pytest.raises(ValueError, match=r"\(N,M,h,w\)"):
        part_discovery_metrics(maps[:1], masks, NAMES)


class _Dataset:
    def __init__(self, part_names=()):
        self.part_names = part_names
        self.test = []


def test_evaluation_skips_with_one_line_without_masks_or_part_maps(caplog):
    from partreid.config import get_cfg
    from partreid.evaluation import evaluate_part_discovery

    cfg = get_cfg()
    with caplog.at_level("INFO", logger="partreid.evaluation.part_discovery"):
        assert evaluate_part_discovery(cfg, torch.nn.Identity(), _Dataset()) == {}
        assert evaluate_part_discovery(cfg, torch.nn.Identity(), _Dataset(NAMES)) == {}
    assert [r.getMessage() for r in caplog.records] == [
        "Part discovery skipped: _Dataset has no ground-truth part masks",
        "Part discovery skipped: Identity has no extract(images) method",
    ]
    caplog.clear()
    cfg.TEST.PART_DISCOVERY.ENABLED = False
    assert evaluate_part_discovery(cfg, torch.nn.Identity(), _Dataset(NAMES)) == {} and not caplog.records


def test_maps_that_follow_each_image_beat_their_fixed_template():
    """Two images whose head sits in different rows: a map that tracks the head image by image is
    pure, its mean over the images (the template) is not; a map fixed where the head usually is
    scores exactly its template."""
    masks = torch.zeros(2, 8, 4, dtype=torch.long)
    masks[0, 0:2, 1:3] = 1  # head at the top
    masks[1, 4:6, 1:3] = 1  # head lower down
    masks[0, 2:8, 0:4] = 2  # upper body under it
    masks[1, 6:8, 0:4] = 2
    tracking = (masks == 1).float()[:, None]  # (2, 1, 8, 4)
    fixed = tracking.mean(dim=0, keepdim=True).expand(2, -1, -1, -1)
    metrics = part_discovery_metrics(torch.cat([tracking, fixed], dim=1), masks, NAMES)
    assert metrics["map1/purity"] == pytest.approx(1.0)
    assert metrics["map1/template_purity"] == pytest.approx(0.5)  # half of the mean map lies on the body
    assert metrics["map2/purity"] == pytest.approx(metrics["map2/template_purity"]) == pytest.approx(0.5)
    assert metrics["template_mean_purity"] == pytest.approx(0.5)
    assert metrics["template_coverage"] == metrics["coverage"] == 1
    table = format_part_discovery_table(metrics)
    assert "template purity" in table and "the maps' fixed templates: coverage 1, mean purity 0.50" in table
    old = {k: v for k, v in metrics.items() if "template" not in k}  # metrics from before the template
    assert "the maps' fixed templates: coverage -, mean purity -" in format_part_discovery_table(old)
