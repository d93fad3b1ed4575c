"""rank_gallery against a slow, obviously-correct per-query loop."""
import numpy as np
import pytest
import torch

from partreid.evaluation.rank import camera_removal, cosine_distance, rank_gallery

MAX_RANK = 20


def reference_rank(dist, q_pids, g_pids, keep, unique):
    """One query at a time: order by (distance, gallery index), drop removed entries, score."""
    out = []
    for i in range(dist.shape[0]):
        order = sorted(range(dist.shape[1]), key=lambda j: (dist[i, j], j))
        ranked = [g_pids[j] for j in order if keep[i, j]]
        hits = [r + 1 for r, pid in enumerate(ranked) if pid == q_pids[i]]
        if not hits:
            out.append(None)
            continue
        if unique:
            seen, first_rank = [], None
            for pid in ranked:
                if pid not in seen:
                    seen.append(pid)
                if pid == q_pids[i]:
                    first_rank = len(seen)
                    break
        else:
            first_rank = hits[0]
        cmc = [1 if first_rank <= k else 0 for k in range(1, MAX_RANK + 1)]
        ap = sum((n + 1) / rank for n, rank in enumerate(hits)) / len(hits)
        inp = len(hits) / hits[-1]
        out.append((cmc, ap, inp))
    return out


def check_against_reference(dist, q_pids, g_pids, keep, unique, batch_size):
    result = rank_gallery(
        q_pids, g_pids, distmat=torch.as_tensor(dist), keep=None if keep is None else torch.as_tensor(keep),
        unique_identities=unique, batch_size=batch_size,
    )
    keep_all = np.ones(dist.shape, dtype=bool) if keep is None else keep
    expected = reference_rank(dist, q_pids, g_pids, keep_all, unique)
    for i, exp in enumerate(expected):
        assert bool(result.valid[i]) == (exp is not None), i
        if exp is None:
            continue
        cmc, ap, inp = exp
        assert result.cmc[i].tolist() == cmc, (i, result.cmc[i].tolist(), cmc)
        assert float(result.ap[i]) == pytest.approx(ap, rel=1e-5)
        assert float(result.inp[i]) == pytest.approx(inp, rel=1e-5)
    return result


@pytest.mark.parametrize("unique", [False, True])
@pytest.mark.parametrize("with_mask", [False, True])
@pytest.mark.parametrize("tied", [False, True])
def test_matches_reference(unique, with_mask, tied):
    rng = np.random.default_rng(int(unique) * 4 + int(with_mask) * 2 + int(tied))
    num_q, num_g = 23, 41
    q_pids = rng.integers(0, 9, num_q).tolist()
    g_pids = rng.integers(0, 8, num_g).tolist()
    q_pids[0] = 8  # absent from the gallery: an invalid query
    if tied:  # few distinct values: many exact ties, broken by gallery index
        dist = rng.integers(0, 3, (num_q, num_g)).astype(np.float32)
    else:
        dist = rng.random((num_q, num_g)).astype(np.float32)
    keep = rng.random((num_q, num_g)) > 0.3 if with_mask else None
    result = check_against_reference(dist, q_pids, g_pids, keep, unique, batch_size=5)
    assert 0 < int(result.valid.sum()) < num_q


def test_unique_identity_cmc_differs_from_standard():
    # Gallery order for the query (pid 0): 1, 1, 1, 0 -> standard rank 4, unique rank 2.
    dist = np.array([[0.1, 0.2, 0.3, 0.4]], dtype=np.float32)
    q, g = [0], [1, 1, 1, 0]
    standard = rank_gallery(q, g, distmat=torch.as_tensor(dist))
    unique = rank_gallery(q, g, distmat=torch.as_tensor(dist), unique_identities=True)
    assert standard.cmc[0, :4].tolist() == [0, 0, 0, 1]
    assert unique.cmc[0, :4].tolist() == [0, 1, 1, 1]
    assert float(standard.ap[0]) == pytest.approx(0.25) == float(unique.ap[0])


def test_hand_computed_ap_inp_and_summary():
    # Matches at ranks 2 and 4: AP = (1/2 + 2/4) / 2, INP = 2 / 4.
    dist = torch.tensor([[0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1]])
    result = rank_gallery([0, 5], [1, 0, 2, 0], distmat=dist)
    assert float(result.ap[0]) == pytest.approx(0.5)
    assert float(result.inp[0]) == pytest.approx(0.5)
    assert result.valid.tolist() == [True, False]  # pid 5 is absent: left out of averages
    summary = result.summary()
    assert summary["Rank-1"] == 0.0 and summary["Rank-5"] == 100.0
    assert summary["mAP"] == pytest.approx(50.0) and summary["mINP"] == pytest.approx(50.0)


def test_ties_broken_by_gallery_index():
    dist = torch.zeros(1, 3)
    assert rank_gallery([7], [3, 7, 7], distmat=dist).cmc[0, :2].tolist() == [0, 1]
    assert rank_gallery([7], [7, 3, 7], distmat=dist).cmc[0, :2].tolist() == [1, 1]


def test_features_equal_cosine_distmat_and_callable_mask():
    torch.manual_seed(0)
    qf, gf = torch.randn(17, 8), torch.randn(30, 8)
    q_pids = torch.randint(0, 5, (17,)).tolist()
    g_pids = torch.randint(0, 5, (30,)).tolist()
    q_cams = torch.randint(0, 3, (17,)).tolist()
    g_cams = torch.randint(0, 3, (30,)).tolist()
    keep_fn = camera_removal(q_pids, q_cams, g_pids, g_cams)
    keep_full = keep_fn(torch.arange(17))
    a = rank_gallery(q_pids, g_pids, query_features=qf, gallery_features=gf, keep=keep_fn, batch_size=4)
    b = rank_gallery(q_pids, g_pids, distmat=cosine_distance(qf, gf), keep=keep_full, batch_size=100)
    assert torch.equal(a.cmc, b.cmc) and torch.allclose(a.ap, b.ap) and torch.equal(a.valid, b.valid)
    expected_keep = ~((torch.tensor(q_pids)[:, None] == torch.tensor(g_pids)) & (torch.tensor(q_cams)[:, None] == torch.tensor(g_cams)))
    assert torch.equal(keep_full, expected_keep)


def test_bad_input_errors():
    with pytest.raises(ValueError, match="either"):
        rank_gallery([0], [0])
    with pytest.raises(ValueError, match="shape"):
        rank_gallery([0], [0, 1], distmat=torch.zeros(1, 3))
    with pytest.raises(ValueError, match="Non-finite"):
        rank_gallery([0], [0], distmat=torch.tensor([[float("nan")]]))
    with pytest.raises(ValueError, match="None of the"):
        rank_gallery([0], [1], distmat=torch.zeros(1, 1)).summary()


def test_signed_distances_and_zero_ties():
    # Negative distances (e.g. a re-ranked or similarity-derived matrix) rank by value, and
    # -0.0 ties with +0.0 (broken by gallery index), as a stable sort orders them.
    dist = np.array([[0.5, -0.0, -1.5, 0.0, -2.0, 0.0, 3.0, -0.25]], dtype=np.float32)
    for q_pid, g_pids in ((1, [0, 0, 0, 1, 0, 1, 1, 0]), (1, [0, 1, 0, 0, 1, 0, 0, 1])):
        check_against_reference(dist, [q_pid], g_pids, None, unique=True, batch_size=1)
        check_against_reference(dist, [q_pid], g_pids, None, unique=False, batch_size=1)
    tied_zeros = rank_gallery([1], [0, 1], distmat=torch.tensor([[0.0, -0.0]]))
    assert tied_zeros.cmc[0, :2].tolist() == [0, 1]  # equal distances: index 0 first


def test_queries_with_many_matches_and_extreme_values():
    # One identity owns most of the gallery (long match lists, uneven across the batch),
    # with huge and tiny magnitudes mixed in.
    rng = np.random.default_rng(7)
    num_q, num_g = 9, 60
    g_pids = [0 if j % 5 else int(rng.integers(1, 4)) for j in range(num_g)]
    q_pids = [0, 0, 1, 2, 3, 0, 1, 0, 4]
    dist = (rng.standard_normal((num_q, num_g)) * 10.0 ** rng.integers(-30, 30, (num_q, num_g))).astype(np.float32)
    keep = rng.random((num_q, num_g)) > 0.2
    for unique in (False, True):
        check_against_reference(dist, q_pids, g_pids, keep, unique, batch_size=4)


def test_sysu_trials_from_one_distance_matrix_equal_per_trial_features():
    # The SYSU evaluator slices each trial's columns from one query x visible matrix; the
    # result must equal ranking each trial from the features.
    from partreid.evaluation.sysu import sysu_camera_rule

    torch.manual_seed(3)
    qf, pool = torch.randn(25, 16), torch.randn(40, 16)
    q_pids, pool_pids = torch.randint(0, 6, (25,)), torch.randint(0, 6, (40,))
    q_cams, pool_cams = torch.randint(3, 7, (25,)), torch.randint(1, 3, (40,))
    full = cosine_distance(qf, pool)
    for trial in range(3):
        columns = torch.randperm(40, generator=torch.Generator().manual_seed(trial))[:17]
        keep = sysu_camera_rule(q_cams, pool_cams[columns])
        sliced = rank_gallery(q_pids, pool_pids[columns], distmat=full[:, columns], keep=keep, unique_identities=True)
        direct = rank_gallery(
            q_pids, pool_pids[columns], query_features=qf, gallery_features=pool[columns], keep=keep,
            unique_identities=True, batch_size=7,
        )
        assert torch.equal(sliced.cmc, direct.cmc) and torch.equal(sliced.valid, direct.valid)
        assert torch.allclose(sliced.ap, direct.ap) and torch.allclose(sliced.inp, direct.inp)
