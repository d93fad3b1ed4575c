"""PartDiscovery's line of the recipe card (partreid.engine.recipe): what the part head's maps
are made of, and where its fixed row prior puts them."""
from typing import List

from partreid.engine.recipe import RECIPE_LINE_REGISTRY, RecipeContext, RecipeLine

from .head import PartDiscoveryHead


@RECIPE_LINE_REGISTRY.register()
def part_discovery_recipe_lines(cfg, context: RecipeContext) -> List[RecipeLine]:
    head = cfg.MODEL.PART_HEAD
    if head.NAME != "PartDiscoveryHead":
        return []
    centres, log_widths = PartDiscoveryHead._row_prior_start(head.NUM_PARTS, head.ROW_PRIOR_CENTRES,
                                                             head.ROW_PRIOR_WIDTHS)
    layout = ", ".join(f"{c:.2f} ± {w:.2f}" for c, w in zip(centres.tolist(), log_widths.exp().tolist()))
    return [RecipeLine("Part maps", f"softmax over {head.NUM_PARTS} parts + background, mass pooling, fixed row "
                       f"prior (centre ± width, top to bottom: {layout})",
                       ["MODEL.PART_HEAD.ROW_PRIOR_CENTRES", "MODEL.PART_HEAD.ROW_PRIOR_WIDTHS"])]
