"""PartMix's lines of the recipe card (partreid.engine.recipe): which donors the mixing uses,
how the mined samples are chosen, and when PartMix switches on."""
from typing import List

from partreid.engine.recipe import RECIPE_LINE_REGISTRY, RecipeContext, RecipeLine


def _donors(inter: bool, intra: bool) -> str:
    if inter and intra:
        return "donors of both modalities (INTER and INTRA)"
    if inter:
        return "donors of the other modality only (the abstract's 'across the modalities')"
    if intra:
        return "donors of the anchor's own modality only"
    return "no donor (INTER and INTRA both False: PartMix mines nothing)"


@RECIPE_LINE_REGISTRY.register()
def partmix_recipe_lines(cfg, context: RecipeContext) -> List[RecipeLine]:
    if cfg.MODEL.MIXER.NAME != "PartMix":
        return []
    p = cfg.PARTMIX
    start = context.schedule.iters(cfg.MODEL.MIXER.START_EPOCH)
    return [
        RecipeLine("PartMix warm-up", f"the baseline alone for epochs 0-{cfg.MODEL.MIXER.START_EPOCH - 1:g} "
                   f"(iterations 0-{start - 1}); PartMix, L_cont and L_aid from iteration {start}",
                   ["MODEL.MIXER.START_EPOCH"]),
        RecipeLine("PartMix donors", _donors(p.INTER, p.INTRA), ["PARTMIX.INTER", "PARTMIX.INTRA"]),
        RecipeLine("PartMix mining", f"{p.MINING}: U' {p.NUM_POS} positives and Q' {p.NUM_NEG} negatives per anchor, "
                   f"{p.NUM_SWAP} part(s) swapped, global slot {p.MIX_GLOBAL}, temperature {p.TEMPERATURE:g} on "
                   f"{p.CONT_FEATURE} descriptors",
                   ["PARTMIX.MINING", "PARTMIX.NUM_POS", "PARTMIX.NUM_NEG", "PARTMIX.NUM_SWAP", "PARTMIX.MIX_GLOBAL",
                    "PARTMIX.TEMPERATURE", "PARTMIX.CONT_FEATURE"]),
    ]
