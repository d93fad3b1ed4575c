"""Under the trainer's bf16 autocast, PartMix mines the candidates the float32 path mines: its
scores are computed in float32 whatever autocast says (on the CPU here; CUDA autocast is the
same switch)."""
import contextlib

import pytest
import torch
import torch.nn as nn

from partmix.mixer import PartMix

# Close to the SYSU recipe's mining: 395 identities, 6 parts, a batch of 8 identities x 4 images.
M, C, K = 6, 32, 395
TARGETS = torch.arange(8).repeat_interleave(4)
MODALITIES = torch.tensor([0, 0, 1, 1] * 8)
N = len(TARGETS)


class _Head(nn.Module):
    """What the mixer reads of the meta-architecture: bn_neck and classifier."""

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.bn_neck = nn.BatchNorm1d((M + 1) * C)
        self.classifier = nn.Linear((M + 1) * C, K, bias=False)
        with torch.no_grad():
            self.bn_neck.weight.uniform_(0.5, 1.5)
            self.classifier.weight.mul_(8.0)


def _outputs(model):
    g = torch.Generator().manual_seed(3)
    parts = torch.randn(N, M, C, generator=g)
    global_desc = torch.randn(N, C, generator=g)
    descriptors = torch.cat([parts.flatten(1), global_desc], dim=1)
    return {
        "part_descriptors": parts,
        "global_descriptor": global_desc,
        "descriptors": descriptors,
        "targets": TARGETS,
        "modalities": MODALITIES,
    }


def _mine(mining, autocast):
    model = _Head().train()
    mixer = PartMix(mining=mining, num_pos=2, num_neg=20, seed=0)
    outputs = _outputs(model)
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=autocast):
        return mixer.mix_descriptors(outputs, {}, model)


@pytest.mark.parametrize("mining", ["entropy", "similarity"])
def test_bf16_autocast_mines_the_float32_candidates(mining):
    reference, autocast = _mine(mining, autocast=False), _mine(mining, autocast=True)
    for key in ("partmix_positive_index", "partmix_negative_index"):
        assert torch.equal(autocast[key], reference[key]), key
    for key in ("partmix_positives", "partmix_negatives"):
        assert torch.equal(autocast[key], reference[key]), key


@pytest.mark.parametrize("mining", ["entropy", "similarity"])
def test_this_batch_is_one_that_bf16_scores_would_reorder(monkeypatch, mining):
    """The control that makes the test above able to fail: with the float32 regions switched
    off, bf16 autocast mines other candidates on this batch."""
    import partmix.mining
    import partmix.mixer

    reference = _mine(mining, autocast=False)
    for module in (partmix.mining, partmix.mixer):
        monkeypatch.setattr(module, "full_precision", lambda device: contextlib.nullcontext())
    low = _mine(mining, autocast=True)
    assert not all(torch.equal(low[key], reference[key])
                   for key in ("partmix_positive_index", "partmix_negative_index"))
