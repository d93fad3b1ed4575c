"""The PartMix mixer: mines mixed part descriptors for the PartMix losses (projects/PartMix/docs/METHOD.md)."""
from typing import Dict, Optional

import torch
import torch.nn.functional as F

from partreid.config.configurable import ArgumentError, config_arguments, configurable
from partreid.modeling.mixers.base import Mixer
from partreid.modeling.mixers.build import MIXER_REGISTRY
from partreid.utils.precision import full_precision

from .mining import (
    MIX_GLOBAL_CHOICES,
    bn_affine,
    bn_statistics,
    candidate_entropies,
    candidate_masks,
    candidate_similarities,
    materialise_candidates,
    random_part_swaps,
    select_candidates,
    single_part_swaps,
)

MINING_CHOICES = ("entropy", "similarity", "random")
CONT_FEATURE_CHOICES = ("bn", "pre_bn")
# Cosine to the anchor above which a mined positive counts as a near-copy of it (diagnostics).
NEAR_COPY_COSINE = 0.99


@MIXER_REGISTRY.register()
class PartMix(Mixer):
    """Mixes part descriptors between images of a batch (PartMix, CVPR 2023).

    For every anchor i it scores all candidates mix(i, j, r) from factorised per-part quantities,
    keeps NUM_POS positives (same identity) and NUM_NEG negatives (other identities) by the
    PARTMIX.MINING rule, and builds only those. Random draws (random mining, part sets when
    NUM_SWAP > 1) come from the base class's seeded `self.generator`. Adds to `outputs`:
      "partmix_positives" (N, U', D) and "partmix_negatives" (N, Q', D): pre-BN mixed descriptors;
      "partmix_positive_mask" (N, U') / "partmix_negative_mask" (N, Q'): False where an anchor had
      fewer allowed candidates than requested (those slots must not enter a loss);
      "partmix_positives_bn" / "partmix_negatives_bn": the same after the BN-neck (batch statistics);
      "partmix_positive_logits" (N, U', K): identity classifier C on the BN-necked positives;
      "partmix_swap" (N, N, R, M): the swap sets of every candidate, and
      "partmix_positive_index" (N, U') / "partmix_negative_index" (N, Q'): the mined candidates
      as flat donor-major indices j * R + r, which `statistics` reads.
    """

    @configurable
    def __init__(
        self,
        *,
        num_swap: int = 1,
        mix_global: str = "anchor",
        inter: bool = True,
        intra: bool = True,
        num_pos: int = 2,
        num_neg: int = 20,
        mining: str = "entropy",
        anchor_chunk: int = 32,
        cont_feature: str = "bn",
        seed: Optional[int] = None,
    ):
        """
        Args:
            num_swap: parts swapped per candidate (1..M).
            mix_global: the global slot of a mixed descriptor, "anchor" or "mean_of_parts".
            inter, intra: take donors of the other / of the same modality.
            num_pos, num_neg: mined positives U' and negatives Q' per anchor.
            mining: "entropy", "similarity" or "random".
            anchor_chunk: anchors scored at once (0 = all).
            cont_feature: the space of the contrastive loss, "bn" or "pre_bn" (read by `statistics`).
            seed: see Mixer.
        The PARTMIX.* keys of the project's config.py say more about each.
        """
        super().__init__(seed=seed)
        if num_swap < 1:
            raise ArgumentError("{num_swap} must be >= 1, got {value}", value=num_swap)
        if mix_global not in MIX_GLOBAL_CHOICES:
            raise ArgumentError("{mix_global} must be one of {choices}, got {value!r}",
                                choices=MIX_GLOBAL_CHOICES, value=mix_global)
        if mining not in MINING_CHOICES:
            raise ArgumentError("{mining} must be one of {choices}, got {value!r}",
                                choices=MINING_CHOICES, value=mining)
        if not (inter or intra):
            raise ArgumentError("{inter} and {intra} are both False: PartMix would have no donor")
        if num_pos < 1:
            raise ArgumentError("{num_pos} must be >= 1, got {value}", value=num_pos)
        if num_neg < 1:
            raise ArgumentError("{num_neg} must be >= 1, got {value}", value=num_neg)
        if cont_feature not in CONT_FEATURE_CHOICES:
            raise ArgumentError("{cont_feature} must be one of {choices}, got {value!r}",
                                choices=CONT_FEATURE_CHOICES, value=cont_feature)
        if anchor_chunk < 0:
            raise ArgumentError("{anchor_chunk} must be >= 0 (0 = all anchors at once), got {value}",
                                value=anchor_chunk)
        self.num_swap = num_swap
        self.mix_global = mix_global
        self.inter, self.intra = inter, intra
        self.num_pos, self.num_neg = num_pos, num_neg
        self.mining = mining
        self.anchor_chunk = anchor_chunk
        self.cont_feature = cont_feature

    @classmethod
    def from_config(cls, cfg):
        """Also checks the keys that tie PartMix to the rest of the config: NUM_SWAP against the
        number of parts, and the contrastive loss's TEMPERATURE (one error before any training)."""
        if "PARTMIX" not in cfg:
            raise KeyError(
                "The config has no PARTMIX node: list the project in the YAML (PROJECTS: [\"partmix\"]) "
                "or call partmix.add_partmix_config(cfg) before merging."
            )
        p = cfg.PARTMIX
        num_parts = cfg.MODEL.PART_HEAD.NUM_PARTS
        if not 1 <= p.NUM_SWAP <= num_parts:
            raise ValueError(
                f"PARTMIX.NUM_SWAP must be in 1..MODEL.PART_HEAD.NUM_PARTS={num_parts}, got {p.NUM_SWAP}"
            )
        if p.TEMPERATURE <= 0:
            raise ValueError(f"PARTMIX.TEMPERATURE must be > 0, got {p.TEMPERATURE}")
        arguments = super().from_config(cfg)
        keys = {
            "num_swap": "PARTMIX.NUM_SWAP",
            "mix_global": "PARTMIX.MIX_GLOBAL",
            "inter": "PARTMIX.INTER",
            "intra": "PARTMIX.INTRA",
            "num_pos": "PARTMIX.NUM_POS",
            "num_neg": "PARTMIX.NUM_NEG",
            "mining": "PARTMIX.MINING",
            "anchor_chunk": "PARTMIX.ANCHOR_CHUNK",
            "cont_feature": "PARTMIX.CONT_FEATURE",
        }
        arguments.update(config_arguments(cfg, keys))
        return arguments

    def mix_descriptors(self, outputs: dict, batch: dict, model) -> dict:
        parts, global_desc = outputs["part_descriptors"], outputs["global_descriptor"]
        n, m, _ = parts.shape
        mean, var = bn_statistics(model.bn_neck, outputs["descriptors"])
        with torch.no_grad(), full_precision(parts):  # ranked scores: low precision would reorder them
            scale, shift = bn_affine(model.bn_neck, mean, var)
            swap = (single_part_swaps(n, m, parts.device) if self.num_swap == 1  # draws nothing
                    else random_part_swaps(n, m, self.num_swap, self.generator, parts.device))
            pos_pairs, neg_pairs = candidate_masks(outputs["targets"], outputs["modalities"], self.inter, self.intra)
            scores = self._candidate_scores(parts.detach().float(), global_desc.detach().float(), swap, scale, shift, model)
            pos_index, pos_valid = select_candidates(scores, self._flat(pos_pairs, m), self.num_pos, largest=False)
            neg_index, neg_valid = select_candidates(scores, self._flat(neg_pairs, m), self.num_neg, largest=True)

        positives = self._build(parts, global_desc, swap, pos_index)
        negatives = self._build(parts, global_desc, swap, neg_index)
        positives_bn = self._neck(positives, mean, var, model)
        return {
            "partmix_positives": positives,
            "partmix_positive_mask": pos_valid,
            "partmix_negatives": negatives,
            "partmix_negative_mask": neg_valid,
            "partmix_positives_bn": positives_bn,
            "partmix_negatives_bn": self._neck(negatives, mean, var, model),
            "partmix_positive_logits": model.classifier(positives_bn),
            "partmix_swap": swap,
            "partmix_positive_index": pos_index,
            "partmix_negative_index": neg_index,
        }

    @torch.no_grad()
    def statistics(self, outputs: dict, model) -> Dict[str, float]:
        """What this step's mining chose, from the `outputs` of `mix_descriptors` (no gradient,
        no random draw, so calling it never changes training):

        * entropy_pos / entropy_neg: mean prediction entropy of the mined positives / negatives;
          entropy_random_pos / entropy_random_neg: the same over every allowed candidate, i.e.
          what uniformly random mining would pick on average;
        * cosine_pos / cosine_neg: mean cosine of the mined samples to their anchor, in the
          space of the contrastive loss (PARTMIX.CONT_FEATURE); near_copy_share: the share of
          mined positives whose cosine exceeds NEAR_COPY_COSINE (almost the anchor itself);
        * swap_pos_slot{m} / swap_neg_slot{m}: the share of mined positives / negatives whose
          part slot m came from the donor;
        * pos_intra_share / neg_intra_share: the share of mined positives / negatives whose donor
          has the anchor's modality (the rest are inter-modality mixes); pos_intra_share_allowed /
          neg_intra_share_allowed: the same over every allowed candidate, what mining without a
          preference for either would give.
        Averages run over the valid (mask True) mined samples; a kind with none is left out."""
        with full_precision(outputs["part_descriptors"]):
            return self._statistics(outputs, model)

    def _statistics(self, outputs: dict, model) -> Dict[str, float]:
        parts, global_desc = outputs["part_descriptors"].detach().float(), outputs["global_descriptor"].detach().float()
        n, m, _ = parts.shape
        swap = outputs["partmix_swap"]
        scale, shift = bn_affine(model.bn_neck, *bn_statistics(model.bn_neck, outputs["descriptors"]))
        classifier = model.classifier
        entropies = candidate_entropies(
            parts, global_desc, swap, self.mix_global, scale, shift, classifier.weight.detach().float(),
            classifier.bias.float() if classifier.bias is not None else None, self.anchor_chunk,
        ).reshape(n, n * m)
        pos_pairs, neg_pairs = candidate_masks(outputs["targets"], outputs["modalities"], self.inter, self.intra)
        suffix = "_bn" if self.cont_feature == "bn" else ""
        anchors = outputs["bn_descriptors" if suffix else "descriptors"].detach().float()[:, None, :]
        rows = torch.arange(n, device=parts.device)[:, None]
        modalities = outputs["modalities"]
        same_modality = modalities[:, None] == modalities[None, :]  # (anchor, donor)
        stats = {}
        for kind, pairs, name in (("pos", pos_pairs, "positive"), ("neg", neg_pairs, "negative")):
            index, valid = outputs[f"partmix_{name}_index"], outputs[f"partmix_{name}_mask"]
            if not valid.any():
                continue
            allowed = self._flat(pairs, m)
            stats[f"entropy_{kind}"] = entropies.gather(1, index)[valid].mean().item()
            stats[f"entropy_random_{kind}"] = entropies[allowed].mean().item()
            mixed = outputs[f"partmix_{name}s{suffix}"].detach().float()
            cosine = F.cosine_similarity(anchors, mixed, dim=-1)[valid]
            stats[f"cosine_{kind}"] = cosine.mean().item()
            if kind == "pos":
                stats["near_copy_share"] = (cosine > NEAR_COPY_COSINE).float().mean().item()
            swapped = swap[rows, index // m, index % m][valid].float().mean(dim=0)  # (M,)
            stats.update({f"swap_{kind}_slot{slot}": value.item() for slot, value in enumerate(swapped)})
            intra = same_modality.gather(1, index // m)[valid].float()
            stats[f"{kind}_intra_share"] = intra.mean().item()
            stats[f"{kind}_intra_share_allowed"] = (same_modality & pairs).sum().item() / max(1, pairs.sum().item())
        return stats

    def _candidate_scores(self, parts, global_desc, swap, scale, shift, model) -> torch.Tensor:
        """(N, N*R) scores, ordered so that positives keep the smallest and negatives the largest:
        prediction entropy, cosine to the anchor, or i.i.d. uniform keys (random mining)."""
        n, m, _ = parts.shape
        if self.mining == "random":
            return torch.rand(n, n * m, generator=self.generator).to(parts.device)
        if self.mining == "similarity":
            scores = candidate_similarities(parts, global_desc, swap, self.mix_global)
        else:
            classifier = model.classifier
            bias = classifier.bias.float() if classifier.bias is not None else None
            scores = candidate_entropies(
                parts, global_desc, swap, self.mix_global, scale, shift,
                classifier.weight.detach().float(), bias, self.anchor_chunk,
            )
        return scores.reshape(n, n * m)

    @staticmethod
    def _flat(pairs: torch.Tensor, num_slots: int) -> torch.Tensor:
        """(N, N) allowed donor pairs -> (N, N*R) allowed candidates, donor-major like the scores."""
        n = pairs.shape[0]
        return pairs[:, :, None].expand(n, n, num_slots).reshape(n, n * num_slots)

    def _build(self, parts, global_desc, swap, flat_index) -> torch.Tensor:
        num_slots = swap.shape[2]
        donors, slots = flat_index // num_slots, flat_index % num_slots
        anchors = torch.arange(parts.shape[0], device=parts.device)[:, None]
        return materialise_candidates(parts, global_desc, donors, swap[anchors, donors, slots], self.mix_global)

    @staticmethod
    def _neck(mixed: torch.Tensor, mean: torch.Tensor, var: torch.Tensor, model) -> torch.Tensor:
        """BN-necked mixed descriptors. The BN-neck normalises with the statistics it used for
        the real batch and leaves its running statistics alone, so synthetic samples never leak
        into the inference-time BN; gradients still reach its affine parameters."""
        bn = model.bn_neck
        flat = mixed.flatten(0, 1).to(mean.dtype)  # BN in float32, as autocast does
        necked = F.batch_norm(flat, mean, var, bn.weight, bn.bias, training=False, eps=bn.eps)
        return necked.view(mixed.shape)
