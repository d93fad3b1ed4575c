"""Part heads: shapes, value ranges and the pooling each one defines."""
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
