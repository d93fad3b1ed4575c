import pytest
import torch

from partreid.utils.testing import tiny_model_cfg


@pytest.fixture
def tiny_cfg():
    """ResNet-18, 2 parts, 64x32 inputs, CPU: the smallest model that exercises every path."""
    return tiny_model_cfg()


@pytest.fixture
def tiny_batch():
    """4 identities x (1 visible + 1 infrared), uint8 64x32 images."""
    generator = torch.Generator().manual_seed(0)
    return {
        "images": torch.randint(0, 256, (8, 3, 64, 32), dtype=torch.uint8, generator=generator),
        "targets": torch.tensor([0, 0, 1, 1, 2, 2, 3, 3]),
        "camids": torch.tensor([1, 3, 1, 3, 2, 6, 2, 6]),
        "modalities": torch.tensor([0, 1, 0, 1, 0, 1, 0, 1]),
        "indices": torch.arange(8),
        "epoch": 0,
    }
