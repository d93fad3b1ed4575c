"""Scoring and mining PartMix candidates without materialising them.

Notation (projects/PartMix/docs/METHOD.md): N images, M part slots, C channels, K identities. The person descriptor is
d_i = [p_i^1, ..., p_i^M, g_i] (D = (M+1)C). Candidate (i, j, r) is anchor i with the parts in
the set S(i, j, r) taken from donor j. Candidates are enumerated as every ordered pair (i, j)
times R = M "candidate slots" r; the swap sets are a boolean tensor `swap` (N, N, R, M):

* NUM_SWAP = 1: S(i, j, r) = {r}, i.e. `swap[i, j, r] = onehot(r)` (see `single_part_swaps`);
* NUM_SWAP = s > 1: S(i, j, r) = {r} plus s-1 other parts drawn uniformly per candidate
  (`random_part_swaps`), so every part is still swapped by at least one candidate of a pair.
  Two candidates of a pair may draw the same set; that only repeats a candidate.

The global slot of a candidate keeps g_i (MIX_GLOBAL "anchor") or is the mean of its mixed parts
("mean_of_parts"). Either way a candidate is linear in the swapped parts,
    x(i, j, r) = base_i + sum_{m in S} delta_{ij}^m,
so any linear score (classifier logits through the affine BN-neck) is a per-part sum, and dot
products and squared norms follow from per-part Gram matrices. Mining only needs these
factorised quantities; the few mined candidates are then built by `materialise_candidates`.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from partreid.utils.precision import full_precision

MIX_GLOBAL_CHOICES = ("anchor", "mean_of_parts")


def _check_mix_global(mix_global: str) -> None:
    if mix_global not in MIX_GLOBAL_CHOICES:
        raise ValueError(f"PARTMIX.MIX_GLOBAL must be one of {MIX_GLOBAL_CHOICES}, got {mix_global!r}")


def single_part_swaps(num_images: int, num_parts: int, device=None) -> torch.Tensor:
    """Swap sets for NUM_SWAP = 1: candidate slot r swaps part r (an expanded view, no copy)."""
    eye = torch.eye(num_parts, dtype=torch.bool, device=device)
    return eye.expand(num_images, num_images, num_parts, num_parts)


def random_part_swaps(
    num_images: int, num_parts: int, num_swap: int, generator: torch.Generator, device=None
) -> torch.Tensor:
    """Swap sets for NUM_SWAP = s: candidate slot r swaps part r and s-1 other parts drawn
    uniformly without replacement, independently for every (i, j, r). Drawn on the generator's
    device (CPU) so that a seed gives the same sets on any accelerator."""
    if not 1 <= num_swap <= num_parts:
        raise ValueError(f"PARTMIX.NUM_SWAP must be in 1..{num_parts} (the number of parts), got {num_swap}")
    if num_swap == 1:
        return single_part_swaps(num_images, num_parts, device)
    keys = torch.rand(num_images, num_images, num_parts, num_parts, generator=generator)
    keys.diagonal(dim1=-2, dim2=-1).fill_(-1.0)  # part r always among the s smallest keys of slot r
    chosen = keys.topk(num_swap, dim=-1, largest=False).indices
    swap = torch.zeros_like(keys, dtype=torch.bool).scatter_(-1, chosen, True)
    return swap.to(device)


def candidate_masks(
    targets: torch.Tensor, modalities: torch.Tensor, inter: bool, intra: bool
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Allowed (anchor i, donor j) pairs, (N, N) booleans each: positives (same identity, j != i)
    and negatives (different identity), keeping donors of the other modality when `inter` and of
    the same modality when `intra`."""
    if not (inter or intra):
        raise ValueError("PARTMIX.INTER and PARTMIX.INTRA are both False: no donor is allowed")
    same_id = targets[:, None] == targets[None, :]
    same_modality = modalities[:, None] == modalities[None, :]
    allowed = (same_modality & intra) | (~same_modality & inter)
    not_self = ~torch.eye(len(targets), dtype=torch.bool, device=targets.device)
    return same_id & not_self & allowed, ~same_id & allowed


def _global_slot(parts: torch.Tensor, global_desc: torch.Tensor, mix_global: str):
    """The anchor's global slot before any swap and the share of a swapped part's change that
    reaches it: g_i and 0 ("anchor"), or mean_m p_i^m and 1/M ("mean_of_parts")."""
    _check_mix_global(mix_global)
    if mix_global == "anchor":
        return global_desc, 0.0
    return parts.mean(dim=1), 1.0 / parts.shape[1]


def candidate_dot_and_norm(
    parts: torch.Tensor, global_desc: torch.Tensor, swap: torch.Tensor, mix_global: str
) -> Tuple[torch.Tensor, torch.Tensor]:
    """d_i . x(i, j, r) and ||x(i, j, r)||^2 for every candidate, each (N, N, R), from the Gram
    matrices Q[a, b, m, n] = p_a^m . p_b^n and E[a, b, m] = g_a . p_b^m.

    Parts (slots m): d_i . x = sum_m G_ii^m + sum_{m in S} (G_ij^m - G_ii^m) with G^m = diag of Q;
    ||x||^2 over parts = sum_m G_ii^m + sum_{m in S} (G_jj^m - G_ii^m). Global slot: g_i . g_i for
    "anchor"; for "mean_of_parts" g_i . mean(x parts) and the quadratic form
    ||mean||^2 = (a'Q_ii a + 2 a'Q_ij s + s'Q_jj s) / M^2 with s = 1[m in S], a = 1 - s."""
    _check_mix_global(mix_global)
    m = parts.shape[1]
    swap_f = swap.to(parts.dtype)
    gram = torch.einsum("amc,bnc->abmn", parts, parts)
    part_gram = gram.diagonal(dim1=-2, dim2=-1)  # (N, N, M): p_a^m . p_b^m
    self_gram = part_gram.diagonal(dim1=0, dim2=1).T  # (N, M): ||p_i^m||^2
    anchor_parts = self_gram.sum(dim=1)[:, None, None]

    dot = anchor_parts + torch.einsum("ijrm,ijm->ijr", swap_f, part_gram - self_gram[:, None, :])
    norm = anchor_parts + torch.einsum("ijrm,ijm->ijr", swap_f, self_gram[None, :, :] - self_gram[:, None, :])
    if mix_global == "anchor":
        g_sq = (global_desc * global_desc).sum(dim=1)[:, None, None]
        return dot + g_sq, norm + g_sq

    g_dot_parts = torch.einsum("ac,bmc->abm", global_desc, parts)  # E[a, b, m]
    g_dot_self = g_dot_parts.diagonal(dim1=0, dim2=1).T  # (N, M): g_i . p_i^m
    dot = dot + (
        g_dot_self.sum(dim=1)[:, None, None]
        + torch.einsum("ijrm,ijm->ijr", swap_f, g_dot_parts - g_dot_self[:, None, :])
    ) / m
    keep_f = 1.0 - swap_f
    gram_self = gram.diagonal(dim1=0, dim2=1).permute(2, 0, 1)  # (N, M, M): Q_ii
    mean_sq = (
        torch.einsum("ijrm,imn,ijrn->ijr", keep_f, gram_self, keep_f)
        + 2 * torch.einsum("ijrm,ijmn,ijrn->ijr", keep_f, gram, swap_f)
        + torch.einsum("ijrm,jmn,ijrn->ijr", swap_f, gram_self, swap_f)
    ) / (m * m)
    return dot, norm + mean_sq


def candidate_similarities(
    parts: torch.Tensor, global_desc: torch.Tensor, swap: torch.Tensor, mix_global: str, eps: float = 1e-12
) -> torch.Tensor:
    """Cosine similarity of every candidate x(i, j, r) to its anchor d_i, (N, N, R), in float32
    whatever autocast says (scores are ranked: low precision reorders close ones)."""
    with full_precision(parts):
        parts, global_desc = _at_least_float32(parts, global_desc)
        dot, norm_sq = candidate_dot_and_norm(parts, global_desc, swap, mix_global)
        anchor_sq = (parts * parts).sum(dim=(1, 2)) + (global_desc * global_desc).sum(dim=1)
        return dot / (anchor_sq[:, None, None] * norm_sq).clamp_min(eps * eps).sqrt()


def _at_least_float32(*tensors):
    """The tensors (None passes through) in float32, or float64 if they are."""
    return tuple(None if t is None else t.to(torch.promote_types(t.dtype, torch.float32)) for t in tensors)


def bn_statistics(bn: torch.nn.BatchNorm1d, descriptors: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean and variance the BN-neck normalises with at this step (detached, at least float32):
    in training the real batch's statistics (biased variance) of its pre-BN `descriptors`, in
    eval mode its running statistics."""
    dtype = torch.promote_types(descriptors.dtype, torch.float32)
    with torch.no_grad():
        if bn.training or bn.running_mean is None:
            x = descriptors.detach().to(dtype)
            return x.mean(dim=0), x.var(dim=0, unbiased=False)
        return bn.running_mean.to(dtype), bn.running_var.to(dtype)


def bn_affine(bn: torch.nn.BatchNorm1d, mean: torch.Tensor, var: torch.Tensor) -> Tuple[torch.Tensor, torch.Tensor]:
    """The BN-neck with fixed statistics as the affine map y = scale * x + shift (detached)."""
    with torch.no_grad():
        scale = torch.rsqrt(var + bn.eps)
        if bn.weight is not None:
            scale = scale * bn.weight.to(scale.dtype)
        shift = -mean * scale
        if bn.bias is not None:
            shift = shift + bn.bias.to(shift.dtype)
    return scale, shift


def candidate_logits(
    parts: torch.Tensor,
    global_desc: torch.Tensor,
    swap: torch.Tensor,
    mix_global: str,
    scale: torch.Tensor,
    shift: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    anchors: slice = slice(None),
) -> torch.Tensor:
    """Classifier logits W(scale * x + shift) + bias of the candidates of `anchors`,
    (n, N, R, K), as logits(base_i) + sum_{m in S} (c_j^m - c_i^m) where c_j^m = W'^m p_j^m is
    part m's contribution (W' = W * scale split per slot; with "mean_of_parts" part m also
    contributes W'^g p_j^m / M through the global slot)."""
    _, m, c = parts.shape
    if weight.shape[1] != (m + 1) * c:
        raise ValueError(
            f"classifier input size {weight.shape[1]} != (num_parts + 1) * channels = {(m + 1) * c}"
        )
    global_slot, global_share = _global_slot(parts, global_desc, mix_global)
    scaled = (weight * scale).view(weight.shape[0], m + 1, c)
    contrib = torch.einsum("nmc,kmc->nmk", parts, scaled[:, :m])
    if global_share:
        contrib = contrib + global_share * torch.einsum("nmc,kc->nmk", parts, scaled[:, m])
        base = contrib.sum(dim=1)
    else:
        base = contrib.sum(dim=1) + global_slot @ scaled[:, m].T
    base = base + weight @ shift
    if bias is not None:
        base = base + bias
    swap_f = swap[anchors].to(parts.dtype)
    own = contrib[anchors]
    return (
        base[anchors][:, None, None, :]
        - torch.einsum("ijrm,imk->ijrk", swap_f, own)
        + torch.einsum("ijrm,jmk->ijrk", swap_f, contrib)
    )


def prediction_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of softmax(logits) over the last dimension."""
    log_p = F.log_softmax(logits, dim=-1)
    return -(log_p.exp() * log_p).sum(dim=-1)


def candidate_entropies(
    parts: torch.Tensor,
    global_desc: torch.Tensor,
    swap: torch.Tensor,
    mix_global: str,
    scale: torch.Tensor,
    shift: torch.Tensor,
    weight: torch.Tensor,
    bias: Optional[torch.Tensor] = None,
    anchor_chunk: int = 0,
) -> torch.Tensor:
    """Prediction entropy of every candidate, (N, N, R), scoring `anchor_chunk` anchors at a time
    (0 = all) so that only chunk x N x R x K logits exist at once. In float32 whatever autocast
    says: entropies over hundreds of classes are ranked, and bf16 (8 bits of mantissa) reorders
    close ones."""
    n = parts.shape[0]
    step = anchor_chunk if anchor_chunk > 0 else n
    with full_precision(parts):
        parts, global_desc, scale, shift, weight, bias = _at_least_float32(
            parts, global_desc, scale, shift, weight, bias)
        return torch.cat(
            [
                prediction_entropy(
                    candidate_logits(
                        parts, global_desc, swap, mix_global, scale, shift, weight, bias, slice(s, s + step)
                    )
                )
                for s in range(0, n, step)
            ]
        )


def select_candidates(
    scores: torch.Tensor, allowed: torch.Tensor, k: int, largest: bool
) -> Tuple[torch.Tensor, torch.Tensor]:
    """Per anchor, the k allowed candidates with the largest (or smallest) score.

    `scores` and `allowed` are (N, L) over the flattened candidates of each anchor. Returns the
    flat indices (N, k') and a validity mask (N, k'), k' = min(k, L). An anchor with fewer than
    k allowed candidates keeps all it has; the remaining slots hold arbitrary indices and are
    False in the mask, which the losses use to leave them out."""
    k = min(k, scores.shape[1])
    fill = float("-inf") if largest else float("inf")
    ranked = scores.masked_fill(~allowed, fill).topk(k, dim=1, largest=largest).indices
    valid = torch.arange(k, device=scores.device)[None, :] < allowed.sum(dim=1, keepdim=True)
    return ranked, valid


def materialise_candidates(
    parts: torch.Tensor, global_desc: torch.Tensor, donors: torch.Tensor, part_sets: torch.Tensor, mix_global: str
) -> torch.Tensor:
    """Build the selected candidates, (N, k, (M+1)C) pre-BN: anchor i's parts with the parts in
    `part_sets[i, t]` (N, k, M booleans) taken from image `donors[i, t]` (N, k). Differentiable
    with respect to the anchor's and the donors' descriptors."""
    _check_mix_global(mix_global)
    n, k = donors.shape
    # index_select, not parts[donors]: the backward of advanced indexing accumulates with atomic
    # adds on the CPU (donors repeat), which makes gradients differ from run to run
    donor_parts = parts.index_select(0, donors.reshape(-1)).view(n, k, *parts.shape[1:])
    mixed_parts = torch.where(part_sets[..., None], donor_parts, parts[:, None])  # (N, k, M, C)
    if mix_global == "anchor":
        global_slot = global_desc[:, None].expand(n, k, -1)
    else:
        global_slot = mixed_parts.mean(dim=2)
    return torch.cat([mixed_parts.flatten(2), global_slot], dim=2)
