"""Part heads: shapes, value ranges and the pooling each one defines."""
import math

import pytest
import torch

from partreid.modeling.part_heads import PartDetector, Stripes


def test_part_detector_shapes_ranges_and_pooling(tiny_cfg):
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 3
    head = PartDetector(tiny_cfg, in_channels=8)
    features = torch.randn(2, 8, 6, 4)
    out = head(features)
    maps = out["part_maps"]
    assert maps.shape == (2, 3, 6, 4) and maps.min() >= 0 and maps.max() <= 1
    assert out["part_descriptors"].shape == (2, 3, 8) and out["global_descriptor"].shape == (2, 8)
    # p_m = GAP(A_m * F): normalised by the map area, as in MPANet.
    expected = (maps[1, 2][None] * features[1]).mean(dim=(1, 2))
    torch.testing.assert_close(out["part_descriptors"][1, 2], expected)
    torch.testing.assert_close(out["global_descriptor"], features.mean(dim=(2, 3)))


def test_stripes_split_rows(tiny_cfg):
    features = torch.arange(5, dtype=torch.float32).view(1, 1, 5, 1).expand(1, 2, 5, 3).contiguous()
    out = Stripes(tiny_cfg, in_channels=2)(features)  # 2 stripes over 5 rows: rows 0-2 and 2-4
    maps = out["part_maps"][0, :, :, 0]
    assert torch.equal(maps, torch.tensor([[1.0, 1, 1, 0, 0], [0, 0, 1, 1, 1]]))
    torch.testing.assert_close(out["part_descriptors"][0, :, 0], torch.tensor([1.0, 3.0]))
    torch.testing.assert_close(out["global_descriptor"][0], torch.tensor([2.0, 2.0]))


def test_stripes_need_enough_rows(tiny_cfg):
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 6
    with pytest.raises(ValueError, match="NUM_PARTS"):
        Stripes(tiny_cfg, in_channels=2)(torch.randn(1, 2, 4, 2))


def test_mass_pooling_is_a_weighted_mean_blind_to_the_map_strength(tiny_cfg):
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 2
    tiny_cfg.MODEL.PART_HEAD.POOLING = "mass"
    head = PartDetector(tiny_cfg, in_channels=8)
    features = torch.randn(2, 8, 6, 4)
    out = head(features)
    maps = out["part_maps"]
    expected = (maps[0, 1][None] * features[0]).sum(dim=(1, 2)) / maps[0, 1].sum()
    torch.testing.assert_close(out["part_descriptors"][0, 1], expected)
    # weakening every map by a common bias shift leaves the descriptors nearly unchanged
    # under "mass" pooling; under "area" pooling they shrink with the maps
    with torch.no_grad():
        head.detector.bias.fill_(-6.0)
    weak = head(features)["part_descriptors"]
    assert weak.abs().sum() > 0.5 * out["part_descriptors"].abs().sum()
    head.pooling = "area"
    assert head(features)["part_descriptors"].abs().sum() < 0.05 * out["part_descriptors"].abs().sum()


def test_softmax_maps_share_each_position_with_a_background_map(tiny_cfg):
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 3
    tiny_cfg.MODEL.PART_HEAD.ACTIVATION = "softmax"
    head = PartDetector(tiny_cfg, in_channels=8)
    assert head.detector.out_channels == 4  # 3 parts + background
    maps = head(torch.randn(2, 8, 6, 4))["part_maps"]
    assert maps.shape == (2, 3, 6, 4) and maps.min() >= 0
    assert (maps.sum(dim=1) < 1).all()  # the background map holds the rest


def test_part_detector_rejects_unknown_choices(tiny_cfg):
    for key, value in (("POOLING", "max"), ("ACTIVATION", "relu")):
        cfg = tiny_cfg.clone()
        cfg.MODEL.PART_HEAD[key] = value
        with pytest.raises(ValueError, match=f"MODEL.PART_HEAD.{key}"):
            PartDetector(cfg, in_channels=8)


@pytest.mark.parametrize("activation", ["sigmoid", "softmax"])
def test_row_prior_starts_the_maps_as_ordered_horizontal_bands(tiny_cfg, activation):
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 4
    tiny_cfg.MODEL.PART_HEAD.ACTIVATION = activation
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR = True
    head = PartDetector(tiny_cfg, in_channels=8)
    torch.nn.init.zeros_(head.detector.weight)  # no evidence from the features: the prior alone
    maps = head(torch.randn(2, 8, 16, 4))["part_maps"]
    profile = maps.mean(dim=(0, 3))  # (4 maps, 16 rows)
    for m in range(4):  # map m is strongest on band m (rows 4m .. 4m+3)
        assert 4 * m <= profile[m].argmax() <= 4 * m + 3
    assert torch.allclose(maps[0], maps[1]) and torch.allclose(maps[..., 0], maps[..., 3])
    maps.sum().backward()
    assert head.row_centres.grad is not None and head.row_log_widths.grad is not None


def test_row_prior_is_off_by_default(tiny_cfg):
    head = PartDetector(tiny_cfg, in_channels=8)
    assert not head.row_prior and not hasattr(head, "row_centres")


def test_row_prior_starts_where_its_centres_say_and_can_stay_there(tiny_cfg):
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 3
    tiny_cfg.MODEL.PART_HEAD.ACTIVATION = "softmax"
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR = True
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_CENTRES = [0.025, 0.475, 0.975]  # the centres of rows 0, 9 and 19 of 20
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_WIDTHS = [0.05, 0.2, 0.05]
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_LEARNED = False
    head = PartDetector(tiny_cfg, in_channels=8)
    torch.nn.init.zeros_(head.detector.weight)
    profile = head(torch.randn(1, 8, 20, 4))["part_maps"].mean(dim=(0, 3))  # (3 maps, 20 rows)
    assert profile.argmax(dim=1).tolist() == [0, 9, 19]
    assert profile[1].gt(0.1).sum() > profile[0].gt(0.1).sum()  # the wider bump spreads over more rows
    # fixed: buffers under the learned prior's checkpoint keys, out of the optimizer's reach
    names = [name for name, _ in head.named_parameters()]
    assert "row_centres" not in names and "row_log_widths" not in names
    assert {"row_centres", "row_log_widths"} <= set(head.state_dict())
    assert torch.allclose(head.row_log_widths.exp(), torch.tensor([0.05, 0.2, 0.05]))
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_LEARNED = True
    learned = PartDetector(tiny_cfg, in_channels=8)
    assert isinstance(learned.row_centres, torch.nn.Parameter)
    assert torch.equal(learned.row_centres.detach(), head.row_centres)
    assert learned.row_log_widths.requires_grad and not head.row_log_widths.requires_grad
    learned.load_state_dict(head.state_dict())  # the two load each other's checkpoints


@pytest.mark.parametrize("key, value, message", [
    ("ROW_PRIOR_CENTRES", [0.5], r"ROW_PRIOR_CENTRES=\[0.5\]: expected one value per part \(MODEL.PART_HEAD.NUM_PARTS=2\)"),
    ("ROW_PRIOR_WIDTHS", [0.1, 0.0], r"ROW_PRIOR_WIDTHS=\[0.1, 0.0\]: widths must be positive"),
    ("ROW_PRIOR_CENTRES", [0.2, 1.5], r"ROW_PRIOR_CENTRES=\[0.2, 1.5\]: centres are fractions of the height"),
])
def test_row_prior_rejects_bad_shapes(tiny_cfg, key, value, message):
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 2
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR = True
    tiny_cfg.MODEL.PART_HEAD[key] = value
    with pytest.raises(ValueError, match=message):
        PartDetector(tiny_cfg, in_channels=8)


def test_row_prior_shape_is_ignored_without_the_prior(tiny_cfg):
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_CENTRES = [0.5, 0.9]  # e.g. a base config's, turned off below it
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_LEARNED = False
    head = PartDetector(tiny_cfg, in_channels=8)
    assert not head.row_prior and not hasattr(head, "row_centres")


def test_row_prior_names_every_key_of_the_wrong_length(tiny_cfg):
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR = True
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_CENTRES = [0.2, 0.5, 0.8]
    tiny_cfg.MODEL.PART_HEAD.ROW_PRIOR_WIDTHS = [0.1, 0.1, 0.1]
    tiny_cfg.MODEL.PART_HEAD.NUM_PARTS = 4
    with pytest.raises(ValueError, match=r"ROW_PRIOR_CENTRES=\[0.2, 0.5, 0.8\] and MODEL.PART_HEAD.ROW_PRIOR_WIDTHS="
                                         r"\[0.1, 0.1, 0.1\]: expected one value per part \(MODEL.PART_HEAD.NUM_PARTS=4\),"
                                         r" or \[\] for the default"):
        PartDetector(tiny_cfg, in_channels=8)


@pytest.mark.parametrize("num_parts", [3, 4, 6])
def test_default_row_prior_starts_bit_for_bit_as_before_its_shape_keys(num_parts):
    head = PartDetector(in_channels=8, num_parts=num_parts, row_prior=True)
    # the formulas of the learned equal-band prior the earlier runs (BENCHMARKS.md, arm Z) used
    assert torch.equal(head.row_centres.detach(), (torch.arange(num_parts, dtype=torch.float32) + 0.5) / num_parts)
    assert torch.equal(head.row_log_widths.detach(), torch.full((num_parts,), math.log(0.5 / num_parts)))


def test_loading_another_fixed_row_prior_is_announced(caplog):
    def fixed(centres):
        return PartDetector(in_channels=8, num_parts=2, activation="softmax", row_prior=True,
                            row_prior_centres=centres, row_prior_learned=False)

    configured, other = fixed([0.3, 0.7]), fixed([0.2, 0.9])
    with caplog.at_level("WARNING"):
        configured.load_state_dict(fixed([0.3, 0.7]).state_dict())  # the same prior: nothing to say
        assert not caplog.records
        configured.load_state_dict(other.state_dict())
    assert torch.equal(configured.row_centres, other.row_centres)  # the checkpoint's prior wins
    assert "fixed row prior (centres [0.2, 0.9], widths [0.25, 0.25]) replaces the configured one " \
           "(MODEL.PART_HEAD.ROW_PRIOR_CENTRES [0.3, 0.7]" in caplog.text
