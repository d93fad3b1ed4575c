"""Factorised candidate scores against explicitly built candidates, masks, selection."""
import pytest
import torch
import torch.nn.functional as F

from partmix.mining import (
    bn_affine,
    bn_statistics,
    candidate_entropies,
    candidate_logits,
    candidate_masks,
    candidate_similarities,
    materialise_candidates,
    prediction_entropy,
    random_part_swaps,
    select_candidates,
)

N, M, C, K = 5, 4, 3, 7


def _descriptors(seed=0):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(N, M, C, generator=g, dtype=torch.float64), torch.randn(N, C, generator=g, dtype=torch.float64)


def _explicit_candidate(parts, global_desc, i, j, part_set, mix_global):
    """d_i with the parts in `part_set` taken from image j, built slot by slot."""
    slots = [parts[j, m] if part_set[m] else parts[i, m] for m in range(M)]
    glob = global_desc[i] if mix_global == "anchor" else torch.stack(slots).mean(dim=0)
    return torch.cat(slots + [glob])


def _swaps(num_swap, seed=1):
    return random_part_swaps(N, M, num_swap, torch.Generator().manual_seed(seed))


@pytest.mark.parametrize("mix_global", ["anchor", "mean_of_parts"])
@pytest.mark.parametrize("num_swap", [1, 3])
def test_factorised_similarities_equal_materialised(mix_global, num_swap):
    parts, global_desc = _descriptors()
    swap = _swaps(num_swap)
    scores = candidate_similarities(parts, global_desc, swap, mix_global)
    assert scores.shape == (N, N, M)
    for i in range(N):
        anchor = torch.cat([parts[i].flatten(), global_desc[i]])
        for j in range(N):
            for r in range(M):
                x = _explicit_candidate(parts, global_desc, i, j, swap[i, j, r], mix_global)
                expected = F.cosine_similarity(anchor, x, dim=0)
                torch.testing.assert_close(scores[i, j, r], expected)


@pytest.mark.parametrize("mix_global", ["anchor", "mean_of_parts"])
@pytest.mark.parametrize("num_swap", [1, 2])
@pytest.mark.parametrize("with_bias", [False, True])
def test_factorised_logits_equal_materialised(mix_global, num_swap, with_bias):
    parts, global_desc = _descriptors(seed=3)
    swap = _swaps(num_swap, seed=4)
    g = torch.Generator().manual_seed(5)
    bn = torch.nn.BatchNorm1d((M + 1) * C).double()
    with torch.no_grad():
        bn.weight.copy_(torch.rand((M + 1) * C, generator=g) + 0.5)
        bn.bias.copy_(torch.randn((M + 1) * C, generator=g))
    weight = torch.randn(K, (M + 1) * C, generator=g, dtype=torch.float64)
    bias = torch.randn(K, generator=g, dtype=torch.float64) if with_bias else None
    real = torch.cat([parts.flatten(1), global_desc], dim=1)
    mean, var = bn_statistics(bn, real)
    scale, shift = bn_affine(bn, mean, var)

    logits = candidate_logits(parts, global_desc, swap, mix_global, scale, shift, weight, bias)
    assert logits.shape == (N, N, M, K)
    bn_real = bn(real)  # training mode: the real batch's statistics
    for i in range(N):
        for j in range(N):
            for r in range(M):
                x = _explicit_candidate(parts, global_desc, i, j, swap[i, j, r], mix_global)
                necked = (x - real.mean(0)) / torch.sqrt(real.var(0, unbiased=False) + bn.eps) * bn.weight + bn.bias
                expected = F.linear(necked, weight, bias)
                torch.testing.assert_close(logits[i, j, r], expected.detach())
    if mix_global == "anchor":  # the unswapped base is the real sample's logits
        own = candidate_logits(parts, global_desc, torch.zeros_like(swap), mix_global, scale, shift, weight, bias)
        torch.testing.assert_close(own[:, 0, 0], F.linear(bn_real, weight, bias).detach())

    chunked = candidate_entropies(parts, global_desc, swap, mix_global, scale, shift, weight, bias, anchor_chunk=2)
    torch.testing.assert_close(chunked, prediction_entropy(logits))


def test_candidate_logits_reject_wrong_classifier_width():
    parts, global_desc = _descriptors()
    with pytest.raises(ValueError, match="classifier input size"):
        candidate_logits(
            parts, global_desc, _swaps(1), "anchor", torch.ones(M * C), torch.zeros(M * C), torch.zeros(K, M * C)
        )


def test_unknown_mix_global_is_rejected():
    parts, global_desc = _descriptors()
    with pytest.raises(ValueError, match="PARTMIX.MIX_GLOBAL"):
        candidate_similarities(parts, global_desc, _swaps(1), "median")


def test_random_part_swaps_contain_their_slot_and_are_seeded():
    swap = _swaps(3, seed=7)
    assert swap.shape == (N, N, M, M)
    assert (swap.sum(-1) == 3).all()
    assert swap.diagonal(dim1=-2, dim2=-1).all()
    assert torch.equal(swap, _swaps(3, seed=7))
    assert not torch.equal(swap, _swaps(3, seed=8))
    assert torch.equal(_swaps(1), torch.eye(M, dtype=torch.bool).expand(N, N, M, M))
    with pytest.raises(ValueError, match="PARTMIX.NUM_SWAP"):
        random_part_swaps(N, M, M + 1, torch.Generator())


def test_candidate_masks_follow_identity_and_modality_switches():
    targets = torch.tensor([0, 0, 0, 1])
    modalities = torch.tensor([0, 1, 0, 1])
    pos, neg = candidate_masks(targets, modalities, inter=True, intra=True)
    assert pos.tolist() == [
        [False, True, True, False],
        [True, False, True, False],
        [True, True, False, False],
        [False, False, False, False],
    ]
    assert neg.tolist() == [
        [False, False, False, True],
        [False, False, False, True],
        [False, False, False, True],
        [True, True, True, False],
    ]
    pos, neg = candidate_masks(targets, modalities, inter=True, intra=False)
    assert pos[0].tolist() == [False, True, False, False]  # only the other modality
    assert neg[3].tolist() == [True, False, True, False]
    pos, neg = candidate_masks(targets, modalities, inter=False, intra=True)
    assert pos[0].tolist() == [False, False, True, False]
    assert neg[3].tolist() == [False, True, False, False]
    with pytest.raises(ValueError, match="PARTMIX.INTER and PARTMIX.INTRA"):
        candidate_masks(targets, modalities, inter=False, intra=False)


def test_select_candidates_keeps_extremes_and_masks_missing():
    scores = torch.tensor([[0.5, 0.1, 0.9, 0.3, 0.7], [0.2, 0.8, 0.4, 0.6, 0.0]])
    allowed = torch.tensor([[True, True, False, True, True], [False, True, False, False, False]])
    index, valid = select_candidates(scores, allowed, k=2, largest=False)
    assert index[0].tolist() == [1, 3]  # lowest allowed (0.9 at index 2 is not allowed)
    assert valid.tolist() == [[True, True], [True, False]]
    assert index[1, 0].item() == 1
    index, valid = select_candidates(scores, allowed, k=3, largest=True)
    assert index[0].tolist() == [4, 0, 3]
    assert valid[1].tolist() == [True, False, False]
    index, valid = select_candidates(scores, allowed, k=10, largest=True)
    assert index.shape == (2, 5) and valid.sum().item() == 5


def test_materialised_candidates_carry_gradients_to_anchor_and_donor():
    parts, global_desc = _descriptors()
    parts.requires_grad_(True)
    global_desc.requires_grad_(True)
    donors = torch.tensor([[2], [0], [1], [4], [3]])
    part_sets = torch.zeros(N, 1, M, dtype=torch.bool)
    part_sets[:, 0, 1] = True
    mixed = materialise_candidates(parts, global_desc, donors, part_sets, "anchor")
    torch.testing.assert_close(mixed[0, 0], _explicit_candidate(parts, global_desc, 0, 2, part_sets[0, 0], "anchor"))
    mixed[0, 0].sum().backward()
    assert parts.grad[0, 0].abs().sum() > 0 and parts.grad[0, 1].abs().sum() == 0  # anchor kept part 0
    assert parts.grad[2, 1].abs().sum() > 0  # donor gave part 1
    assert global_desc.grad[0].abs().sum() > 0


def test_candidate_gradients_repeat_exactly_with_several_threads():
    """Donors repeat across anchors: gathering them by advanced indexing would accumulate the
    backward with atomic adds on the CPU, and gradients would change from run to run."""
    threads = torch.get_num_threads()
    torch.set_num_threads(max(threads, 2))
    try:
        g = torch.Generator().manual_seed(0)
        parts = torch.randn(32, 4, 512, generator=g, requires_grad=True)
        global_desc = torch.randn(32, 512, generator=g, requires_grad=True)
        donors = torch.randint(0, 32, (32, 22), generator=g)
        part_sets = torch.rand(32, 22, 4, generator=g) < 0.3
        upstream = torch.randn(32, 22, 5 * 512, generator=g)
        grads = []
        for _ in range(6):
            parts.grad = None
            (materialise_candidates(parts, global_desc, donors, part_sets, "anchor") * upstream).sum().backward()
            grads.append(parts.grad.clone())
        assert all(torch.equal(grad, grads[0]) for grad in grads)
    finally:
        torch.set_num_threads(threads)
