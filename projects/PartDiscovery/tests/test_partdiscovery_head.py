"""PartDiscoveryHead: softmax maps with a background map, mass pooling, the fixed row prior; built
from a config (PROJECTS: ["partdiscovery"]) as from keyword arguments."""
import pytest
import torch

import partdiscovery
from partdiscovery.head import PartDiscoveryHead
from partreid.modeling.part_heads import PART_HEAD_REGISTRY
from partreid.utils.testing import tiny_model_cfg


def discovery_cfg(num_parts=3):
    cfg = tiny_model_cfg()
    partdiscovery.add_config(cfg)
    cfg.MODEL.PART_HEAD.NAME = "PartDiscoveryHead"
    cfg.MODEL.PART_HEAD.NUM_PARTS = num_parts
    return cfg


def test_registered_and_built_the_same_from_a_config_and_from_arguments():
    cfg = discovery_cfg()
    cfg.MODEL.PART_HEAD.ROW_PRIOR_CENTRES, cfg.MODEL.PART_HEAD.ROW_PRIOR_WIDTHS = [0.2, 0.5, 0.8], [0.1, 0.2, 0.1]
    assert PART_HEAD_REGISTRY.get("PartDiscoveryHead") is PartDiscoveryHead
    torch.manual_seed(0)
    from_cfg = PART_HEAD_REGISTRY.get(cfg.MODEL.PART_HEAD.NAME)(cfg, 8)
    torch.manual_seed(0)
    from_arguments = PartDiscoveryHead(in_channels=8, num_parts=3, row_prior_centres=[0.2, 0.5, 0.8],
                                       row_prior_widths=[0.1, 0.2, 0.1])
    for (name, a), (_, b) in zip(from_cfg.state_dict().items(), from_arguments.state_dict().items()):
        assert torch.equal(a, b), name
    features = torch.randn(2, 8, 6, 4)
    for key, value in from_cfg(features).items():
        assert torch.equal(value, from_arguments(features)[key]), key


def test_softmax_maps_share_each_position_with_a_background_map():
    head = PartDiscoveryHead(in_channels=8, num_parts=3)
    assert head.detector.out_channels == 4  # 3 parts + background
    maps = head(torch.randn(2, 8, 6, 4))["part_maps"]
    assert maps.shape == (2, 3, 6, 4) and maps.min() >= 0
    assert (maps.sum(dim=1) < 1).all()  # the background map holds the rest


def test_mass_pooling_is_a_weighted_mean_blind_to_the_map_strength():
    head = PartDiscoveryHead(in_channels=8, num_parts=2)
    features = torch.randn(2, 8, 6, 4)
    out = head(features)
    maps = out["part_maps"]
    expected = (maps[0, 1][None] * features[0]).sum(dim=(1, 2)) / maps[0, 1].sum()
    torch.testing.assert_close(out["part_descriptors"][0, 1], expected)
    torch.testing.assert_close(head.pool(0.01 * maps, features), out["part_descriptors"])
    torch.testing.assert_close(out["global_descriptor"], features.mean(dim=(2, 3)))


def test_row_prior_starts_the_maps_as_ordered_horizontal_bands():
    head = PartDiscoveryHead(in_channels=8, num_parts=4)
    torch.nn.init.zeros_(head.detector.weight)  # no evidence from the features: the prior alone
    maps = head(torch.randn(2, 8, 16, 4))["part_maps"]
    profile = maps.mean(dim=(0, 3))  # (4 maps, 16 rows)
    for m in range(4):  # map m is strongest on band m (rows 4m .. 4m+3)
        assert 4 * m <= profile[m].argmax() <= 4 * m + 3
    assert torch.allclose(maps[0], maps[1]) and torch.allclose(maps[..., 0], maps[..., 3])


def test_row_prior_sits_where_its_centres_say_and_is_not_trained():
    head = PartDiscoveryHead(in_channels=8, num_parts=3, row_prior_centres=[0.025, 0.475, 0.975],
                             row_prior_widths=[0.05, 0.2, 0.05])  # the centres of rows 0, 9 and 19 of 20
    torch.nn.init.zeros_(head.detector.weight)
    profile = head(torch.randn(1, 8, 20, 4))["part_maps"].mean(dim=(0, 3))  # (3 maps, 20 rows)
    assert profile.argmax(dim=1).tolist() == [0, 9, 19]
    assert profile[1].gt(0.1).sum() > profile[0].gt(0.1).sum()  # the wider bump spreads over more rows
    # buffers: checkpointed, out of the optimizer's reach
    assert [name for name, _ in head.named_parameters()] == ["detector.weight", "detector.bias"]
    assert {"row_centres", "row_log_widths"} <= set(head.state_dict())
    assert torch.allclose(head.row_log_widths.exp(), torch.tensor([0.05, 0.2, 0.05]))


@pytest.mark.parametrize("key, value, message", [
    ("ROW_PRIOR_CENTRES", [0.5], r"ROW_PRIOR_CENTRES=\[0.5\]: expected one value per part \(MODEL.PART_HEAD.NUM_PARTS=2\)"),
    ("ROW_PRIOR_WIDTHS", [0.1, 0.0], r"ROW_PRIOR_WIDTHS=\[0.1, 0.0\]: widths must be positive"),
    ("ROW_PRIOR_CENTRES", [0.2, 1.5], r"ROW_PRIOR_CENTRES=\[0.2, 1.5\]: centres are fractions of the height"),
    ("NUM_PARTS", 0, r"MODEL.PART_HEAD.NUM_PARTS=0: PartDiscoveryHead needs at least 1 part"),
])
def test_bad_values_name_their_key(key, value, message):
    cfg = discovery_cfg(num_parts=2)
    cfg.MODEL.PART_HEAD[key] = value
    with pytest.raises(ValueError, match=message):
        PartDiscoveryHead(cfg, in_channels=8)


def test_every_key_of_the_wrong_length_is_named():
    cfg = discovery_cfg(num_parts=4)
    cfg.MODEL.PART_HEAD.ROW_PRIOR_CENTRES, cfg.MODEL.PART_HEAD.ROW_PRIOR_WIDTHS = [0.2, 0.5, 0.8], [0.1, 0.1, 0.1]
    with pytest.raises(ValueError, match=r"ROW_PRIOR_CENTRES=\[0.2, 0.5, 0.8\] and MODEL.PART_HEAD.ROW_PRIOR_WIDTHS="
                                         r"\[0.1, 0.1, 0.1\]: expected one value per part \(MODEL.PART_HEAD.NUM_PARTS=4\),"
                                         r" or \[\] for the default"):
        PartDiscoveryHead(cfg, in_channels=8)


def test_loading_another_row_prior_is_announced(caplog):
    def head(centres):
        return PartDiscoveryHead(in_channels=8, num_parts=2, row_prior_centres=centres)

    configured, other = head([0.3, 0.7]), head([0.2, 0.9])
    with caplog.at_level("WARNING"):
        configured.load_state_dict(head([0.3, 0.7]).state_dict())  # the same prior: nothing to say
        assert not caplog.records
        configured.load_state_dict(other.state_dict())
    assert torch.equal(configured.row_centres, other.row_centres)  # the checkpoint's prior wins
    assert "fixed row prior (centres [0.2, 0.9], widths [0.25, 0.25]) replaces the configured one " \
           "(MODEL.PART_HEAD.ROW_PRIOR_CENTRES [0.3, 0.7]" in caplog.text


def test_the_recipe_card_line_states_the_prior_as_built():
    from partdiscovery.recipe import part_discovery_recipe_lines

    cfg = discovery_cfg(num_parts=2)
    cfg.MODEL.PART_HEAD.ROW_PRIOR_CENTRES = [0.2, 0.7]
    line, = part_discovery_recipe_lines(cfg, None)
    assert line.value.endswith("fixed row prior (centre ± width, top to bottom: 0.20 ± 0.25, 0.70 ± 0.25)")
    cfg.MODEL.PART_HEAD.NAME = "PartDetector"
    assert part_discovery_recipe_lines(cfg, None) == []
