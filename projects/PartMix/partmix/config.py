"""Config keys of the PartMix project (added to the core config before a YAML is merged)."""
from partreid.config.config import CfgNode as CN, register_config_upgrade

# PARTMIX.<key> of a VERSION 3 YAML -> its loss node under MODEL.LOSSES (VERSION 4).
_MOVED_WEIGHTS = {"CONT_WEIGHT": "CONT", "AID_WEIGHT": "AID"}


def add_partmix_config(cfg):
    """Add the PARTMIX node and the nodes of the two losses (MODEL.LOSSES.CONT, MODEL.LOSSES.AID).
    Every choice the specification leaves open is a key here, so that a variant of the method is a
    YAML override rather than a code change."""
    _P = cfg.PARTMIX = CN()
    # Parts swapped per candidate. 1: candidate (i, j, m) is d_i with part slot m taken from j.
    # s > 1: candidate (i, j, m) swaps part m plus s-1 other parts drawn at random (per candidate).
    _P.NUM_SWAP = 1
    # Global slot of a mixed descriptor: "anchor" keeps the anchor's g_i; "mean_of_parts" sets it
    # to the mean of the mixed descriptor's part descriptors.
    _P.MIX_GLOBAL = "anchor"
    # Donors of the other modality (inter-modality mixing) / of the same modality (intra-modality).
    _P.INTER = True
    _P.INTRA = True
    # Mined positives U' and negatives Q' per anchor (supplementary C: 2 and 20).
    _P.NUM_POS = 2
    _P.NUM_NEG = 20
    # How the U' positives and Q' negatives are chosen among the candidates:
    # "entropy": positives with the lowest, negatives with the highest entropy of the identity
    #            classifier's prediction (the paper's entropy-based mining);
    # "similarity": positives least, negatives most cosine-similar to the anchor (hard mining);
    # "random": uniformly at random (the "without mining" ablation).
    _P.MINING = "entropy"
    # Descriptor space of the contrastive loss's cosine similarities: "bn" (after the BN-neck,
    # with the real batch's statistics: the retrieval space, where every part slot weighs like
    # the global one) or "pre_bn" (raw d). In the raw space the global slot dominates the norm
    # (part maps are sparse, so part descriptors are ~20x smaller), every candidate's cosine to
    # its anchor is ~1 and the loss stays at log(1 + Q'/U'): measured on SynthVI, see README.
    _P.CONT_FEATURE = "bn"
    # Temperature tau of the contrastive loss's cosine similarities.
    _P.TEMPERATURE = 0.1
    # Anchors whose candidate logits are scored at once (bounds the memory of entropy mining:
    # ANCHOR_CHUNK x batch x parts x classes floats). 0 = all anchors in one block.
    _P.ANCHOR_CHUNK = 32
    # Training diagnostics of the mixing (meta-arch PartMixBaseline; see the project README):
    # every DIAGNOSTICS_PERIOD iterations while the mixer runs, the entropies and cosines of the
    # mined samples, how often each part slot is swapped, and the gradient norms of
    # L_cont + L_aid and of L_id at DIAGNOSTICS_MODULE go to metrics.json as partmix/* and to the
    # log as one line. Computed at iterations where (iteration + 1) % period == 0; keep it a
    # multiple of SOLVER.LOG_PERIOD so that every value is written. 0 = off (the default: they
    # cost two extra gradient passes and host syncs at every diagnosed step, and break a compiled
    # graph; the SynthVI configs ask for them). Training is bitwise the same whatever the period
    # (no random draw, no gradient accumulated).
    _P.DIAGNOSTICS_PERIOD = 0
    # Module (a dotted path in the meta-architecture) whose parameters' gradient norms the
    # diagnostics compare: the backbone's last stage by default.
    _P.DIAGNOSTICS_MODULE = "backbone.layer4"
    losses = cfg.MODEL.LOSSES
    # L_cont (PartMixContrastiveLoss) and L_aid (PartMixAuxIDLoss), off unless a config enables them
    # (Base-PartMix.yaml does); weights lambda_cont and lambda_aid (supplementary C: 0.5 and 0.5).
    losses.CONT = CN()
    losses.CONT.ENABLED = False
    losses.CONT.WEIGHT = 0.5
    losses.AID = CN()
    losses.AID.ENABLED = False
    losses.AID.WEIGHT = 0.5
    return cfg


def _uses_old_weights(cfg_dict: dict) -> bool:
    return any(key in (cfg_dict.get("PARTMIX") or {}) for key in _MOVED_WEIGHTS)


def _move_loss_weights(cfg_dict: dict) -> None:
    """VERSION 4: PARTMIX.CONT_WEIGHT / AID_WEIGHT became MODEL.LOSSES.CONT.WEIGHT / AID.WEIGHT,
    where every loss keeps its weight."""
    partmix = cfg_dict.get("PARTMIX") or {}
    for key, node in _MOVED_WEIGHTS.items():
        if key in partmix:
            losses = cfg_dict.setdefault("MODEL", {}).setdefault("LOSSES", {})
            losses.setdefault(node, {})["WEIGHT"] = partmix.pop(key)


register_config_upgrade(4, _move_loss_weights, _uses_old_weights)
