"""SyncBN requested on a process group that cannot synchronise it (gloo on the CPU)."""
import torch
import torch.nn as nn

from partreid.engine.defaults import _revert_sync_bn


def test_revert_keeps_parameters_statistics_and_outputs():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(3, 4, 1), nn.BatchNorm2d(4), nn.Flatten(), nn.BatchNorm1d(4 * 9))
    model.train()
    model(torch.randn(5, 3, 3, 3))  # non-trivial running statistics
    model.eval()
    x = torch.randn(2, 3, 3, 3)
    expected = model(x)
    model = nn.SyncBatchNorm.convert_sync_batchnorm(model)
    params = list(model.parameters())
    _revert_sync_bn(model)
    assert not any(isinstance(m, nn.SyncBatchNorm) for m in model.modules())
    # the optimizer built before the conversion still holds the live parameters
    assert all(a is b for a, b in zip(params, model.parameters()))
    torch.testing.assert_close(model(x), expected)
    model.train()
    assert model(torch.randn(4, 3, 3, 3)).shape == (4, 36)
