"""SynthVI identities: each is a set of part attributes, every attribute with a *colour* (what
visible cameras see) and a *material* (what infrared cameras see), so that colour alone cannot
solve cross-modality search.

An identity has skin; hair (colour, style); an upper garment (colour/material, texture plain,
stripes, checks or logo, with a pattern colour/material, sleeve length); a lower garment
(colour/material, texture, trousers/shorts/skirt); shoes; an optional bag (left, right, backpack);
a build (width) and a height. About a fifth of the identities are "colour twins" of an earlier one
(same colours, other materials and textures) and a fifth are "material twins" (same materials and
textures, other colours and one other shape attribute). Some identities miss one camera, as in SYSU.
"""
from dataclasses import dataclass, replace
from typing import List, Optional, Sequence

import numpy as np

# Near-infrared reflectance per material; gaps of >= 0.17 keep materials separable under noise.
MATERIAL_INTENSITY = {
    "leather": 0.16,
    "denim": 0.36,
    "wool": 0.53,
    "cotton": 0.70,
    "polyester": 0.88,
}
_GARMENT_MATERIALS = tuple(MATERIAL_INTENSITY)
_SHOE_MATERIALS = ("leather", "cotton", "polyester")
HAIR_INTENSITY = {"fine": 0.30, "coarse": 0.48}
SKIN_INTENSITY = 0.80

PALETTE = {  # RGB in 0..1; a small palette so that many identities share colours.
    "black": (0.10, 0.10, 0.11),
    "white": (0.90, 0.90, 0.88),
    "grey": (0.52, 0.53, 0.55),
    "navy": (0.12, 0.16, 0.40),
    "blue": (0.20, 0.42, 0.80),
    "red": (0.78, 0.14, 0.14),
    "green": (0.18, 0.55, 0.25),
    "yellow": (0.92, 0.80, 0.20),
    "brown": (0.45, 0.28, 0.15),
    "beige": (0.82, 0.72, 0.55),
    "pink": (0.92, 0.55, 0.68),
    "olive": (0.42, 0.45, 0.18),
}
_COLOURS = tuple(PALETTE)
_SHOE_COLOURS = ("black", "white", "brown", "grey", "red", "navy")
SKIN_TONES = ((0.96, 0.80, 0.69), (0.87, 0.68, 0.52), (0.68, 0.48, 0.33), (0.45, 0.31, 0.22))
HAIR_COLOURS = ((0.08, 0.06, 0.05), (0.35, 0.22, 0.12), (0.80, 0.65, 0.35), (0.60, 0.60, 0.60))
_HAIR_STYLES = ("short", "long", "bob", "bun")
_UPPER_TEXTURES = ("plain", "plain", "hstripes", "vstripes", "checks", "logo")
_LOWER_TEXTURES = ("plain", "plain", "plain", "hstripes", "checks")
_LOWER_SHAPES = ("trousers", "trousers", "shorts", "skirt")
_BAGS = ("none", "none", "left", "right", "backpack")
_PATTERN_PERIODS = (6, 10, 14)  # pixels at render scale (twice the output size)


@dataclass(frozen=True)
class Garment:
    colour: str
    material: str
    texture: str
    pattern_colour: str
    pattern_material: str
    period: int


@dataclass(frozen=True)
class Identity:
    pid: int
    skin_tone: int
    hair_colour: int
    hair_style: str
    hair_material: str
    upper: Garment
    long_sleeves: bool
    lower: Garment
    lower_shape: str
    shoe_colour: str
    shoe_material: str
    bag: str
    bag_colour: str
    bag_material: str
    build: float
    height: float
    missing_camera: Optional[int]

    def shape_signature(self) -> tuple:
        """What survives in infrared: materials, textures and shapes, not colours."""
        return (
            self.hair_style, self.hair_material, self.upper.material, self.upper.texture,
            self.upper.pattern_material, self.upper.period, self.long_sleeves, self.lower.material,
            self.lower.texture, self.lower.pattern_material, self.lower_shape, self.shoe_material,
            self.bag, self.bag_material, self.build,
        )

    def colour_signature(self) -> tuple:
        return (
            self.skin_tone, self.hair_colour, self.upper.colour, self.upper.pattern_colour,
            self.lower.colour, self.lower.pattern_colour, self.shoe_colour, self.bag_colour,
        )


def _choose(rng: np.random.Generator, options: Sequence, exclude=()):
    allowed = [option for option in options if option not in exclude]
    return allowed[int(rng.integers(len(allowed)))]


def _sample_garment(rng, textures: Sequence[str]) -> Garment:
    colour = _choose(rng, _COLOURS)
    material = _choose(rng, _GARMENT_MATERIALS)
    base = MATERIAL_INTENSITY[material]
    # The pattern differs in colour and clearly in material, so it shows in both modalities.
    contrasting = [m for m in _GARMENT_MATERIALS if abs(MATERIAL_INTENSITY[m] - base) >= 0.3]
    return Garment(
        colour=colour,
        material=material,
        texture=_choose(rng, textures),
        pattern_colour=_choose(rng, _COLOURS, exclude=(colour,)),
        pattern_material=_choose(rng, contrasting),
        period=_choose(rng, _PATTERN_PERIODS),
    )


def _sample_identity(rng, pid: int) -> Identity:
    bag = _choose(rng, _BAGS)
    return Identity(
        pid=pid,
        skin_tone=int(rng.integers(len(SKIN_TONES))),
        hair_colour=int(rng.integers(len(HAIR_COLOURS))),
        hair_style=_choose(rng, _HAIR_STYLES),
        hair_material=_choose(rng, tuple(HAIR_INTENSITY)),
        upper=_sample_garment(rng, _UPPER_TEXTURES),
        long_sleeves=bool(rng.random() < 0.5),
        lower=_sample_garment(rng, _LOWER_TEXTURES),
        lower_shape=_choose(rng, _LOWER_SHAPES),
        shoe_colour=_choose(rng, _SHOE_COLOURS),
        shoe_material=_choose(rng, _SHOE_MATERIALS),
        bag=bag,
        bag_colour=_choose(rng, _COLOURS),
        bag_material=_choose(rng, _GARMENT_MATERIALS),
        build=float(_choose(rng, (0.85, 1.0, 1.15))),
        height=float(rng.uniform(0.80, 0.92)),
        missing_camera=None,
    )


def _colour_twin(rng, source: Identity, pid: int) -> Identity:
    """Same colours as `source`; materials, textures and shapes drawn afresh."""
    fresh = _sample_identity(rng, pid)
    return replace(
        fresh,
        skin_tone=source.skin_tone,
        hair_colour=source.hair_colour,
        upper=replace(fresh.upper, colour=source.upper.colour, pattern_colour=source.upper.pattern_colour),
        lower=replace(fresh.lower, colour=source.lower.colour, pattern_colour=source.lower.pattern_colour),
        shoe_colour=source.shoe_colour,
        bag_colour=source.bag_colour,
    )


def _material_twin(rng, source: Identity, pid: int) -> Identity:
    """Same materials and textures as `source`, other colours and one other shape attribute,
    so that the twins look alike in infrared yet stay separable by shape."""
    fresh = _sample_identity(rng, pid)
    twin = replace(
        source,
        pid=pid,
        skin_tone=fresh.skin_tone,
        hair_colour=fresh.hair_colour,
        upper=replace(source.upper, colour=fresh.upper.colour, pattern_colour=fresh.upper.pattern_colour),
        lower=replace(source.lower, colour=fresh.lower.colour, pattern_colour=fresh.lower.pattern_colour),
        shoe_colour=fresh.shoe_colour,
        bag_colour=fresh.bag_colour,
        height=fresh.height,
    )
    changed = _choose(rng, ("hair_style", "lower_shape", "bag", "long_sleeves"))
    if changed == "hair_style":
        return replace(twin, hair_style=_choose(rng, _HAIR_STYLES, exclude=(source.hair_style,)))
    if changed == "lower_shape":
        return replace(twin, lower_shape=_choose(rng, _LOWER_SHAPES, exclude=(source.lower_shape,)))
    if changed == "bag":
        return replace(twin, bag=_choose(rng, _BAGS, exclude=(source.bag,)))
    return replace(twin, long_sleeves=not source.long_sleeves)


def sample_split_identities(seed: int, pids: Sequence[int]) -> List[Identity]:
    """Identities of one split, in pid order; twins are taken from the same split so that they
    meet as confusers in its gallery. No two identities share both shape and colours."""
    identities: List[Identity] = []
    signatures = set()
    for pid in pids:
        rng = np.random.default_rng([seed, 1, pid])
        while True:
            kind = rng.random()
            if identities and kind < 0.2:
                identity = _colour_twin(rng, identities[int(rng.integers(len(identities)))], pid)
            elif identities and kind < 0.4:
                identity = _material_twin(rng, identities[int(rng.integers(len(identities)))], pid)
            else:
                identity = _sample_identity(rng, pid)
            signature = (identity.shape_signature(), identity.colour_signature())
            if signature not in signatures:
                break
        signatures.add(signature)
        if rng.random() < 0.2:  # SYSU-like gaps; cams 1/2 and one IR camera always remain
            identity = replace(identity, missing_camera=_choose(rng, (1, 2, 3, 4, 5, 6)))
        identities.append(identity)
    return identities
