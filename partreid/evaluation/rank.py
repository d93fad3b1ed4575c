"""The one ranking implementation: CMC, AP and INP for every query, vectorised in torch.

Every evaluator goes through `rank_gallery`, so that all protocols share one definition
of the metrics (the one of AGW's `eval_metrics.py`, the de-facto reference in VI-ReID):

- distance: cosine distance `1 - <q, g>` on L2-normalised features, or a given matrix;
- removal: a per-query keep mask on the gallery (camera rules); a removed entry is as
  if it were absent, it neither matches nor pushes matches down the list;
- ties: the gallery is ordered by (float32 distance, gallery index), i.e. as a *stable*
  sort on distance would order it (-0.0 equals 0.0). The rule is deterministic and the
  reference loop in the tests uses the same one;
- CMC (standard): 1 from the rank of the first true match on;
- CMC (unique identities, SYSU/AGW): ranks count distinct gallery identities in order of
  first appearance, so the rank of the first true match is 1 + the number of distinct
  wrong identities ranked above it. Rank-1 equals the standard Rank-1;
- AP: mean over true matches of precision at their rank; INP: #matches / rank of the last;
- a query without any true match left after removal is "invalid": it is reported but
  left out of every average (as in AGW and fast-reid).

No gallery is sorted: only the ranks of the true matches enter the metrics, and they are
counted (see `_rank_block`), which is O(G log m) per query for m matches instead of
O(G log G), with no Python loop over queries. Queries are processed `batch_size` at a
time; peak memory is about 20 bytes x batch_size x gallery size (distances, their int64
ranking keys and the per-entry match counts).
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
        gallery_features = F.normalize(gallery_features.float(), dim=1).to(query_features.device)
    # Rank where the features (or distances) are: on a GPU, every tensor below lives there too.
    device = (distmat if distmat is not None else query_features).device
    q_pids, g_pids = q_pids.to(device), g_pids.to(device)
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
        index = torch.arange(start, min(start + batch_size, q_pids.numel()), device=device)
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
            keep_rows = keep[index.to(keep.device)] if isinstance(keep, torch.Tensor) else keep(index.cpu())
            keep_rows = keep_rows.to(device=device, dtype=torch.bool)
        results.append(
            _rank_block(dist, keep_rows, query_labels[index], gallery_labels, gallery_ids.numel(), unique_identities, max_rank)
        )
    return RankingResult(*(torch.cat(parts).cpu() for parts in zip(*results)))


# Larger than every key of a finite distance: pads match lists and marks removed entries.
_NO_KEY = torch.iinfo(torch.int64).max


def _ranking_keys(dist: torch.Tensor) -> torch.Tensor:
    """int64 keys whose order is the ranking order: (float32 distance, gallery index).

    The float's bits, with the low 31 flipped for negatives, are monotone in its value, so
    `bits << 32 | index` compares like the pair; exact ties are then broken by index with
    integer comparisons alone, and no sort of the gallery is needed.
    """
    bits = (dist.float() + 0.0).view(torch.int32)  # + 0.0 makes -0.0 into +0.0: the two zeros tie
    bits ^= (bits >> 31) & 0x7FFFFFFF
    keys = bits.long()
    keys <<= 32
    keys |= torch.arange(dist.shape[1], device=dist.device)
    return keys


def _rank_block(dist, keep, query_labels, gallery_labels, num_labels, unique_identities, max_rank):
    """Score a block of queries without sorting the gallery.

    Only the ranks of the true matches matter: with the matches of a query sorted by key,
    every kept gallery entry is counted in the bin of the number of matches that precede it
    (a binary search among the few match keys), and the running sum of the bins at match j
    is the 1-based rank of match j. AP, INP and the standard CMC follow from these ranks;
    the unique-identity CMC counts identities whose best kept key precedes the best match.
    """
    num_queries, device = dist.shape[0], dist.device
    keys = _ranking_keys(dist)
    del dist
    removed = None if keep is None else ~keep
    is_match = gallery_labels[None, :] == query_labels[:, None]
    if keep is not None:
        is_match &= keep
    rows, cols = is_match.nonzero(as_tuple=True)  # row-major
    del is_match
    num_matches = torch.bincount(rows, minlength=num_queries)
    valid = num_matches > 0
    width = max(int(num_matches.max()) if num_queries else 0, 1)
    row_start = torch.cumsum(num_matches, 0) - num_matches
    match_keys = torch.full((num_queries, width), _NO_KEY, dtype=torch.long, device=device)
    match_keys[rows, torch.arange(rows.numel(), device=device) - row_start[rows]] = keys[rows, cols]
    match_keys = match_keys.sort(dim=1).values

    # bins[i, j]: kept entries preceded by exactly j matches (j <= width); removed entries
    # go to bin `width`, past every match, so they never add to a rank.
    preceding = torch.searchsorted(match_keys, keys)
    if removed is not None:
        preceding.masked_fill_(removed, width)
    preceding += (torch.arange(num_queries, device=device) * (width + 1))[:, None]
    bins = torch.bincount(preceding.view(-1), minlength=num_queries * (width + 1)).view(num_queries, width + 1)
    del preceding
    match_ranks = bins[:, :width].cumsum(1)  # match_ranks[i, j]: 1-based rank of match j

    slots = torch.arange(width, device=device)
    is_slot = slots[None, :] < num_matches[:, None]
    zero = torch.zeros((), dtype=torch.float64, device=device)
    precision = torch.where(is_slot, (slots + 1).double()[None, :] / match_ranks.double(), zero)
    ap = torch.where(valid, precision.sum(1) / num_matches.clamp(min=1), zero)
    last_rank = match_ranks.gather(1, (num_matches - 1).clamp(min=0)[:, None]).squeeze(1)
    inp = torch.where(valid, num_matches.double() / last_rank.double(), zero)

    if unique_identities:
        if removed is not None:
            keys.masked_fill_(removed, _NO_KEY)
        best_key = torch.full((num_queries, num_labels), _NO_KEY, dtype=torch.long, device=device)
        best_key.scatter_reduce_(1, gallery_labels.expand(num_queries, -1), keys, "amin")
        # Identities whose best entry is at or before the first match; includes the query's own.
        first_rank = (best_key <= match_keys[:, :1]).sum(1)
    else:
        first_rank = match_ranks[:, 0]
    ranks = torch.arange(1, max_rank + 1, device=device)
    cmc = (valid[:, None] & (first_rank[:, None] <= ranks[None, :])).to(torch.uint8)
    return cmc, ap.float(), inp.float(), valid
