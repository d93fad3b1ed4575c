"""Vectorised k-reciprocal re-ranking against a per-sample loop of the published algorithm."""
import numpy as np
import torch

from partreid.evaluation.rerank import k_reciprocal_rerank


def reference_rerank(q, g, k1, k2, lam):
    feats = np.concatenate([q, g]).astype(np.float64)
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    n, nq = len(feats), len(q)
    dist = ((feats[:, None, :] - feats[None, :, :]) ** 2).sum(-1)
    dist = dist / dist.max(axis=1, keepdims=True)
    rank = np.argsort(dist, axis=1, kind="stable")

    def reciprocal(i, k):
        forward = rank[i, : k + 1]
        return [j for j in forward if i in rank[j, : k + 1]]

    v = np.zeros((n, n))
    for i in range(n):
        base = reciprocal(i, k1)
        expansion = set(base)
        for c in base:
            cand = reciprocal(c, int(round(k1 / 2)))
            if len(set(cand) & set(base)) > 2.0 / 3.0 * len(cand):
                expansion |= set(cand)
        idx = sorted(expansion)
        w = np.exp(-dist[i, idx])
        v[i, idx] = w / w.sum()
    if k2 > 1:
        v = np.stack([v[rank[i, :k2]].mean(0) for i in range(n)])
    out = np.zeros((nq, n - nq))
    for i in range(nq):
        for j in range(nq, n):
            mn = np.minimum(v[i], v[j]).sum()
            mx = np.maximum(v[i], v[j]).sum()
            out[i, j - nq] = (1 - mn / mx) * (1 - lam) + dist[i, j] * lam
    return out


def test_rerank_matches_reference():
    rng = np.random.default_rng(0)
    centers = rng.normal(size=(5, 6))
    labels = rng.integers(0, 5, 30)
    feats = centers[labels] + 0.6 * rng.normal(size=(30, 6))
    q, g = feats[:8], feats[8:]
    for k1, k2 in [(6, 3), (4, 1)]:
        got = k_reciprocal_rerank(torch.tensor(q), torch.tensor(g), k1=k1, k2=k2, lambda_value=0.3).numpy()
        np.testing.assert_allclose(got, reference_rerank(q, g, k1, k2, 0.3), rtol=1e-4, atol=1e-5)
