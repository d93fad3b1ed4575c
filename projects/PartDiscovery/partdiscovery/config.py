"""Config keys of the PartDiscovery project (added to the core config before a YAML is merged)."""
from partreid.config.config import CfgNode as CN


def add_partdiscovery_config(cfg):
    """Add the keys of PartDiscoveryHead (MODEL.PART_HEAD.ROW_PRIOR_*) and of the two losses
    (MODEL.LOSSES.PART_ID, MODEL.LOSSES.CONC)."""
    head = cfg.MODEL.PART_HEAD
    # PartDiscoveryHead's fixed row prior: a bump per map over the image rows, added to its logits
    # (an upright pedestrian's parts are ordered head to feet). Its centres, top to bottom, as
    # fractions of the image height, one per part ([]: the centres of M equal bands), and its
    # widths (standard deviations, same unit; []: half a band). Body parts are not equally tall,
    # so equal bands start the top map on head and shoulders alike and the bottom one on legs and
    # feet alike; Base-SynthVI.yaml lays them out from the part masks (benchmarks/part_discovery_probe.py prior).
    head.ROW_PRIOR_CENTRES = []
    head.ROW_PRIOR_WIDTHS = []
    losses = cfg.MODEL.LOSSES
    # Both are off unless a config enables them (MODEL.LOSSES.PART_ID.ENABLED True).
    # L_part_id (PartIdentityLoss): the identity CE of each part slot's own logits (its slice of
    # the shared classifier), averaged over the slots.
    losses.PART_ID = CN()
    losses.PART_ID.ENABLED = False
    losses.PART_ID.WEIGHT = 1.0
    # L_conc (PartConcentrationLoss): the spatial variance of each part map (coordinates in
    # [0, 1]), so that a map covers one compact region.
    losses.CONC = CN()
    losses.CONC.ENABLED = False
    losses.CONC.WEIGHT = 1.0
    return cfg
