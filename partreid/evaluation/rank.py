"""The one ranking implementation: CMC, AP and INP for every query, vectorised in torch.

Every evaluator goes through `rank_gallery`, so that all protocols share one definition
of the metrics (the one of AGW's `eval_metrics.py`, the de-facto reference in VI-ReID):

- distance: cosine distance `1 - <q, g>` on L2-normalised features, or a given matrix;
- removal: a per-query keep mask on the gallery (camera rules); a removed entry is as
  if it were absent, it neither matches nor pushes matches down the list;
- ties: the gallery is ordered by a *stable* sort on distance, so equal distances are
  broken by gallery index (lower index first). The rule is deterministic and the
  reference loop in the tests uses the same one;
- CMC (standard): 1 from the rank of the first true match on;
- CMC (unique identities, SYSU/AGW): ranks count distinct gallery identities in order of
  first appearance, so the rank of the first true match is 1 + the number of distinct
  wrong identities ranked above it. Rank-1 equals the standard Rank-1;
- AP: mean over true matches of precision at their rank; INP: #matches / rank of the last;
- a query without any true match left after removal is "invalid": it is reported but
  left out of every average (as in AGW and fast-reid).

Queries are processed `batch_size` at a time; peak memory is about
20 bytes x batch_size x gallery size (the distance block, its sort and the matches).
"""
from dataclasses import dataclass
from typing import Callable, Dict, Optional, Sequence, Union

import torch
import torch.nn.functional as F

# Ranks that summaries report (CMC is computed up to the largest one).
REPORTED_RANKS = (1, 5, 10, 20)

KeepMask = Union[torch.Tensor, Callable[[torch.Tensor], torch.Tensor]]


@dataclass
class RankingResult:
    """Per-query metrics. `cmc` is (Q, max_rank) in {0, 1}; `ap`, `inp` are (Q,);
    `valid` marks queries with at least one true match after removal (the others hold 0)."""

    cmc: torch.Tensor
    ap: torch.Tensor
    inp: torch.Tensor
    valid: torch.Tensor

    def summary(self) -> Dict[str, float]:
        """Averages over valid queries in percent: Rank-k for the reported k, mAP, mINP."""
        num_valid = int(self.valid.sum())
        if num_valid == 0:
            raise ValueError(
                f"None of the {self.valid.numel()} queries has a true match in the gallery after removal; "
                "check that query and gallery share identities (and the camera rule)."
            )
        cmc = self.cmc[self.valid].double().mean(0) * 100.0
        out = {f"Rank-{k}": float(cmc[k - 1]) for k in REPORTED_RANKS if k <= cmc.numel()}
        out["mAP"] = float(self.ap[self.valid].double().mean() * 100.0)
        out["mINP"] = float(self.inp[self.valid].double().mean() * 100.0)
        return out


def cosine_distance(query_features: torch.Tensor, gallery_features: torch.Tensor) -> torch.Tensor:
    """1 - cosine similarity, (Q, G)."""
    q = F.normalize(query_features.float(), dim=1)
    g = F.normalize(gallery_features.float(), dim=1)
    return 1.0 - q @ g.t()


def camera_removal(
    query_pids: Sequence[int], query_camids: Sequence[int], gallery_pids: Sequence[int], gallery_camids: Sequence[int]
) -> Callable[[torch.Tensor], torch.Tensor]:
    """Keep mask of the standard ReID rule: drop gallery images of the query's identity
    taken by the query's camera."""
    q_pids, q_cams = torch.as_tensor(query_pids), torch.as_tensor(query_camids)
    g_pids, g_cams = torch.as_tensor(gallery_pids), torch.as_tensor(gallery_camids)

    def keep(query_index: torch.Tensor) -> torch.Tensor:
        same_pid = q_pids[query_index, None] == g_pids[None, :]
        same_cam = q_cams[query_index, None] == g_cams[None, :]
        return ~(same_pid & same_cam)

    return keep


def rank_gallery(
    query_pids: Sequence[int],
    gallery_pids: Sequence[int],
    *,
    query_features: Optional[torch.Tensor] = None,
    gallery_features: Optional[torch.Tensor] = None,
    distmat: Optional[torch.Tensor] = None,
    keep: Optional[KeepMask] = None,
    unique_identities: bool = False,
    max_rank: int = max(REPORTED_RANKS),
    batch_size: int = 1024,
) -> RankingResult:
    """Rank the gallery for every query and score it.

    Give either `query_features` and `gallery_features` (cosine distance, computed a
    batch of queries at a time) or a precomputed `distmat` (Q, G). `keep` is an optional
    (Q, G) bool tensor or a callable mapping a 1-D tensor of query indices to their (b, G)
    keep rows (which avoids materialising a Q x G mask). `unique_identities` selects the
    SYSU/AGW CMC. See the module docstring for the exact definitions and the tie rule.
    """
    q_pids = torch.as_tensor(query_pids, dtype=torch.long)
    g_pids = torch.as_tensor(gallery_pids, dtype=torch.long)
    if (distmat is None) == (query_features is None or gallery_features is None):
        raise ValueError("rank_gallery needs either query_features and gallery_features, or distmat (not both)")
    if distmat is not None:
        distmat = torch.as_tensor(distmat)
        expected = (q_pids.numel(), g_pids.numel())
        if tuple(distmat.shape) != expected:
            raise ValueError(f"distmat has shape {tuple(distmat.shape)}, expected (num_queries, num_gallery) = {expected}")
    else:
        if query_features.shape[0] != q_pids.numel() or gallery_features.shape[0] != g_pids.numel():
            raise ValueError(
                f"Features ({query_features.shape[0]} queries, {gallery_features.shape[0]} gallery) do not match "
                f"the pids ({q_pids.numel()} queries, {g_pids.numel()} gallery)"
            )
        query_features = F.normalize(query_features.float(), dim=1)
        gallery_features = F.normalize(gallery_features.float(), dim=1)
    if isinstance(keep, torch.Tensor) and tuple(keep.shape) != (q_pids.numel(), g_pids.numel()):
        raise ValueError(f"keep mask has shape {tuple(keep.shape)}, expected {(q_pids.numel(), g_pids.numel())}")
    if batch_size < 1 or max_rank < 1:
        raise ValueError(f"batch_size ({batch_size}) and max_rank ({max_rank}) must be positive")

    # Compact gallery labels 0..P-1 for the unique-identity CMC; queries whose pid is not
    # in the gallery get -1 (they never match).
    gallery_ids, gallery_labels = torch.unique(g_pids, return_inverse=True)
    pos = torch.searchsorted(gallery_ids, q_pids).clamp(max=max(gallery_ids.numel() - 1, 0))
    query_labels = torch.where(gallery_ids[pos] == q_pids, pos, torch.full_like(pos, -1))

    results = []
    for start in range(0, q_pids.numel(), batch_size):
        index = torch.arange(start, min(start + batch_size, q_pids.numel()))
        if distmat is not None:
            dist = distmat[index].float()
        else:
            dist = 1.0 - query_features[index] @ gallery_features.t()
        if not torch.isfinite(dist).all():
            raise ValueError(
                f"Non-finite distances for queries {start}..{int(index[-1])} (NaN/inf features or distmat)"
            )
        keep_rows = None
        if keep is not None:
            keep_rows = keep[index] if isinstance(keep, torch.Tensor) else keep(index)
            keep_rows = keep_rows.to(torch.bool)
        results.append(
            _rank_block(dist, keep_rows, query_labels[index], gallery_labels, gallery_ids.numel(), unique_identities, max_rank)
        )
    return RankingResult(*(torch.cat(parts) for parts in zip(*results)))


def _rank_block(dist, keep, query_labels, gallery_labels, num_labels, unique_identities, max_rank):
    num_queries, num_gallery = dist.shape
    if keep is not None:
        # Removed entries sort after every kept one; the relative order of the kept ones
        # (distance, then index) is unchanged, so kept entries take positions 0..n_kept-1.
        dist = dist.masked_fill(~keep, float("inf"))
        num_kept = keep.sum(1)
    else:
        num_kept = torch.full((num_queries,), num_gallery, dtype=torch.long)
    order = torch.sort(dist, dim=1, stable=True).indices
    del dist
    columns = torch.arange(num_gallery)
    is_match = (gallery_labels[order] == query_labels[:, None]) & (columns[None, :] < num_kept[:, None])

    rows, cols = is_match.nonzero(as_tuple=True)  # row-major: matches of a query in rank order
    num_matches = torch.bincount(rows, minlength=num_queries)
    valid = num_matches > 0
    first = torch.full((num_queries,), num_gallery, dtype=torch.long).scatter_reduce(0, rows, cols, "amin")
    last = torch.zeros(num_queries, dtype=torch.long).scatter_reduce(0, rows, cols, "amax")

    # Precision at each match: (matches so far) / (rank), ranks 1-based.
    row_start = torch.cumsum(num_matches, 0) - num_matches
    matches_so_far = torch.arange(rows.numel()) - row_start[rows] + 1
    precision = matches_so_far.double() / (cols + 1).double()
    ap = torch.zeros(num_queries, dtype=torch.float64).index_add_(0, rows, precision)
    ap = torch.where(valid, ap / num_matches.clamp(min=1), torch.zeros_like(ap))
    inp = torch.where(valid, num_matches.double() / (last + 1).double(), torch.zeros_like(ap))

    if unique_identities:
        # Position of every gallery entry in this query's ranking; removed ones never count.
        position = torch.empty_like(order).scatter_(1, order, columns.expand(num_queries, -1))
        if keep is not None:
            position = position.masked_fill(~keep, num_gallery)
        first_position = torch.full((num_queries, num_labels), num_gallery, dtype=torch.long)
        first_position.scatter_reduce_(1, gallery_labels.expand(num_queries, -1), position, "amin")
        # Identities first seen at or before the first match; includes the query's own.
        first_rank = (first_position <= first[:, None]).sum(1)
    else:
        first_rank = first + 1
    ranks = torch.arange(1, max_rank + 1)
    cmc = (valid[:, None] & (first_rank[:, None] <= ranks[None, :])).to(torch.uint8)
    return cmc, ap.float(), inp.float(), valid
