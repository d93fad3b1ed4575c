"""SynthVI: procedurally rendered visible-infrared person crops in the SYSU-MM01 on-disk layout.

Why it exists: the engine, the PartMix project and their tests need a cross-modality ReID dataset
that is small, licence-free and generated offline, yet has the property that makes VI-ReID hard:
colour does not transfer from visible to infrared, while body shape, clothing texture and part
layout do.

Layout written under `root` (identical to SYSU-MM01, so the same reader serves both):
    cam{1..6}/{pid:04d}/{n:04d}.jpg   cams 1,2,4,5 visible RGB; cams 3,6 infrared (3 equal channels)
    exp/train_id.txt, exp/val_id.txt, exp/test_id.txt   one comma-separated line of 1-based ids
    part_masks/cam{c}/{pid:04d}.npz   ground-truth body-part masks of that folder's images (below)
    SYNTHVI_DONE.json                 generation parameters + counts, written last and atomically
`num_train_ids` counts train+val identities (SYSU trains on both); about one in ten of them is
listed in val_id.txt. Some identities miss one camera, as in SYSU, but every identity keeps at
least one visible camera among cams 1/2 (indoor search) and at least one infrared camera.

How an image is made:
- An identity is a set of part attributes, each with a *colour* (visible) and a *material*
  (infrared): skin; hair (colour, style); upper garment (colour/material, texture plain, stripes,
  checks or logo, with a pattern colour/material, sleeve length); lower garment (colour/material,
  texture, trousers/shorts/skirt); shoes; optional bag (left, right, backpack); build (width) and
  height. About a fifth of the identities are "colour twins" of an earlier one (same colours,
  other materials and textures) and a fifth are "material twins" (same materials and textures,
  other colours and one other shape attribute), so colour alone cannot solve cross-modality search.
- The person is drawn once per image as a label map (one label per body-part slot), with per-image
  pose (arm and leg angles, front/back view) then warped (scale, shift, shear, lean). Visible
  images colour the labels with the identity's colours under the camera's lighting (brightness,
  gamma, colour cast); infrared images map each label's *material* to an intensity (plus camera
  gain, offset and stronger noise), so hue is lost but texture and layout survive.
- Random textured background with a floor line, optional occluder (box or pole), blur and noise.
- Ground truth for part discovery: the warped label map, reduced to PART_NAMES (background, head,
  upper body with arms, lower body with legs, feet, bag; occluded pixels count as background) and
  brought to the image size by a 2x2 majority vote, is stored per camera and identity as a
  compressed uint8 array (about 0.3 KB per image). SYSU readers never look at part_masks/.
- Every image uses its own numpy Generator seeded by (seed, pid, camera, index): the same
  arguments give byte-identical files whatever `num_workers` is.

Measured difficulty (defaults: 64 train+val / 32 test identities, 4 images per camera, 128x64,
seed 0; query = every infrared test image, gallery = every visible test image, Rank-1 of the
nearest gallery image by cosine; tests/data/test_synthvi_generator.py bounds the same matchers):
    chance (1 / num_test_ids)                                          3.1 %
    raw pixels (z-scored grayscale 32x16), IR -> visible               3.7 %
    intensity histogram, IR -> visible grayscale                       5.3 %
    polarity-free edge-orientation histograms in 8 bands, IR -> vis   30.7 %
    raw pixels, visible cam 1 -> visible cams 2,4,5                   35.9 %
    edge-orientation bands, visible cam 1 -> visible cams 2,4,5       68.0 %
    a 6-conv CNN trained from scratch on the train ids (grayscale,
    20 epochs, plain cross-entropy), IR -> visible                    35.2 %
So colour and brightness do not transfer, texture and layout do. The small CNN is a floor for
learned models, not a target: an ImageNet-initialised part model was not measured here.
Generating the default set (2,236 images: some identities miss one camera)
takes about 7 s on one CPU core, 4 s with num_workers=2.
"""
import json
import logging
import os
import shutil
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, replace
from typing import Dict, List, Optional, Sequence, Tuple

import cv2
import numpy as np

logger = logging.getLogger(__name__)

__all__ = ["generate_synthvi", "part_mask_path", "VISIBLE_CAMERAS", "INFRARED_CAMERAS", "MARKER_NAME", "PART_NAMES"]

VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)
MARKER_NAME = "SYNTHVI_DONE.json"
# Bump when the rendering changes: an existing tree with another version is regenerated.
# 2: ground-truth part masks under part_masks/ (images unchanged).
GENERATOR_VERSION = 2
_JPEG_QUALITY = 92

# Label-map slots: every pixel of the person belongs to one part slot, coloured per modality.
# Arm and leg skin look exactly like the face (same colour and material) but are slots of their
# own, so that the ground-truth part masks can tell the head from the limbs.
(_BACKGROUND, _SKIN, _HAIR, _UPPER, _UPPER_PATTERN, _LOWER, _LOWER_PATTERN, _SHOES, _BAG, _ARM_SKIN,
 _LEG_SKIN) = range(11)
_NUM_SLOTS = 11

# Ground-truth body parts written to part_masks/ (the value of a mask pixel indexes this tuple).
# "head" includes the neck and hair, "upper_body" the arms and hands, "lower_body" the legs (bare
# skin included); occluded pixels are "background", since no part is visible there.
PART_NAMES = ("background", "head", "upper_body", "lower_body", "feet", "bag")
PART_MASK_DIR = "part_masks"
_SLOT_TO_PART = np.zeros(_NUM_SLOTS, np.uint8)
_SLOT_TO_PART[[_SKIN, _HAIR]] = PART_NAMES.index("head")
_SLOT_TO_PART[[_UPPER, _UPPER_PATTERN, _ARM_SKIN]] = PART_NAMES.index("upper_body")
_SLOT_TO_PART[[_LOWER, _LOWER_PATTERN, _LEG_SKIN]] = PART_NAMES.index("lower_body")
_SLOT_TO_PART[_SHOES] = PART_NAMES.index("feet")
_SLOT_TO_PART[_BAG] = PART_NAMES.index("bag")

# Near-infrared reflectance per material; gaps of >= 0.17 keep materials separable under noise.
_MATERIAL_INTENSITY = {
    "leather": 0.16,
    "denim": 0.36,
    "wool": 0.53,
    "cotton": 0.70,
    "polyester": 0.88,
}
_GARMENT_MATERIALS = tuple(_MATERIAL_INTENSITY)
_SHOE_MATERIALS = ("leather", "cotton", "polyester")
_HAIR_INTENSITY = {"fine": 0.30, "coarse": 0.48}
_SKIN_INTENSITY = 0.80

_PALETTE = {  # RGB in 0..1; a small palette so that many identities share colours.
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
_COLOURS = tuple(_PALETTE)
_SHOE_COLOURS = ("black", "white", "brown", "grey", "red", "navy")
_SKIN_TONES = ((0.96, 0.80, 0.69), (0.87, 0.68, 0.52), (0.68, 0.48, 0.33), (0.45, 0.31, 0.22))
_HAIR_COLOURS = ((0.08, 0.06, 0.05), (0.35, 0.22, 0.12), (0.80, 0.65, 0.35), (0.60, 0.60, 0.60))
_HAIR_STYLES = ("short", "long", "bob", "bun")
_UPPER_TEXTURES = ("plain", "plain", "hstripes", "vstripes", "checks", "logo")
_LOWER_TEXTURES = ("plain", "plain", "plain", "hstripes", "checks")
_LOWER_SHAPES = ("trousers", "trousers", "shorts", "skirt")
_BAGS = ("none", "none", "left", "right", "backpack")
_PATTERN_PERIODS = (6, 10, 14)  # pixels at render scale (twice the output size)


@dataclass(frozen=True)
class _Garment:
    colour: str
    material: str
    texture: str
    pattern_colour: str
    pattern_material: str
    period: int


@dataclass(frozen=True)
class _Identity:
    pid: int
    skin_tone: int
    hair_colour: int
    hair_style: str
    hair_material: str
    upper: _Garment
    long_sleeves: bool
    lower: _Garment
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


@dataclass(frozen=True)
class _CameraStyle:
    """Fixed per-camera imaging conditions; images add their own jitter around them."""

    infrared: bool
    brightness: float
    gamma: float
    cast: Tuple[float, float, float]  # RGB gains (visible only)
    background: Tuple[float, float, float]  # scene base colour (RGB, or intensity repeated)
    noise: float


_CAMERAS = {
    1: _CameraStyle(False, 1.00, 1.00, (1.08, 1.00, 0.86), (0.70, 0.62, 0.50), 0.015),  # indoor, warm
    2: _CameraStyle(False, 0.85, 1.15, (0.92, 1.00, 1.10), (0.55, 0.58, 0.62), 0.020),  # indoor, dim
    3: _CameraStyle(True, 1.00, 0.90, (1.0, 1.0, 1.0), (0.28, 0.28, 0.28), 0.035),  # IR indoor
    4: _CameraStyle(False, 1.10, 0.90, (0.95, 1.06, 0.95), (0.45, 0.52, 0.40), 0.015),  # outdoor, green
    5: _CameraStyle(False, 1.15, 0.95, (0.92, 0.98, 1.12), (0.62, 0.62, 0.66), 0.020),  # outdoor, sky
    6: _CameraStyle(True, 0.85, 1.10, (1.0, 1.0, 1.0), (0.20, 0.20, 0.20), 0.045),  # IR outdoor
}


# ----------------------------------------------------------------------------- identities


def _choose(rng: np.random.Generator, options: Sequence, exclude=()):
    allowed = [option for option in options if option not in exclude]
    return allowed[int(rng.integers(len(allowed)))]


def _sample_garment(rng, textures: Sequence[str]) -> _Garment:
    colour = _choose(rng, _COLOURS)
    material = _choose(rng, _GARMENT_MATERIALS)
    base = _MATERIAL_INTENSITY[material]
    # The pattern differs in colour and clearly in material, so it shows in both modalities.
    contrasting = [m for m in _GARMENT_MATERIALS if abs(_MATERIAL_INTENSITY[m] - base) >= 0.3]
    return _Garment(
        colour=colour,
        material=material,
        texture=_choose(rng, textures),
        pattern_colour=_choose(rng, _COLOURS, exclude=(colour,)),
        pattern_material=_choose(rng, contrasting),
        period=_choose(rng, _PATTERN_PERIODS),
    )


def _sample_identity(rng, pid: int) -> _Identity:
    bag = _choose(rng, _BAGS)
    return _Identity(
        pid=pid,
        skin_tone=int(rng.integers(len(_SKIN_TONES))),
        hair_colour=int(rng.integers(len(_HAIR_COLOURS))),
        hair_style=_choose(rng, _HAIR_STYLES),
        hair_material=_choose(rng, tuple(_HAIR_INTENSITY)),
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


def _colour_twin(rng, source: _Identity, pid: int) -> _Identity:
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


def _material_twin(rng, source: _Identity, pid: int) -> _Identity:
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


def _sample_split_identities(seed: int, pids: Sequence[int]) -> List[_Identity]:
    """Identities of one split, in pid order; twins are taken from the same split so that they
    meet as confusers in its gallery. No two identities share both shape and colours."""
    identities: List[_Identity] = []
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


def _visible_lut(identity: _Identity) -> np.ndarray:
    lut = np.zeros((_NUM_SLOTS, 3), np.float32)
    lut[[_SKIN, _ARM_SKIN, _LEG_SKIN]] = _SKIN_TONES[identity.skin_tone]
    lut[_HAIR] = _HAIR_COLOURS[identity.hair_colour]
    lut[_UPPER] = _PALETTE[identity.upper.colour]
    lut[_UPPER_PATTERN] = _PALETTE[identity.upper.pattern_colour]
    lut[_LOWER] = _PALETTE[identity.lower.colour]
    lut[_LOWER_PATTERN] = _PALETTE[identity.lower.pattern_colour]
    lut[_SHOES] = _PALETTE[identity.shoe_colour]
    lut[_BAG] = _PALETTE[identity.bag_colour]
    return lut


def _infrared_lut(identity: _Identity) -> np.ndarray:
    lut = np.zeros(_NUM_SLOTS, np.float32)
    lut[[_SKIN, _ARM_SKIN, _LEG_SKIN]] = _SKIN_INTENSITY
    lut[_HAIR] = _HAIR_INTENSITY[identity.hair_material]
    lut[_UPPER] = _MATERIAL_INTENSITY[identity.upper.material]
    lut[_UPPER_PATTERN] = _MATERIAL_INTENSITY[identity.upper.pattern_material]
    lut[_LOWER] = _MATERIAL_INTENSITY[identity.lower.material]
    lut[_LOWER_PATTERN] = _MATERIAL_INTENSITY[identity.lower.pattern_material]
    lut[_SHOES] = _MATERIAL_INTENSITY[identity.shoe_material]
    lut[_BAG] = _MATERIAL_INTENSITY[identity.bag_material]
    return np.repeat(lut[:, None], 3, axis=1)


# ----------------------------------------------------------------------------- rendering


def _pt(x: float, y: float) -> Tuple[int, int]:
    return int(round(x)), int(round(y))


def _limb(canvas, start, angle: float, length: float, thickness: float, label: int):
    """Draw a straight limb segment hanging at `angle` (radians from vertical); returns its end."""
    end = (start[0] + length * np.sin(angle), start[1] + length * np.cos(angle))
    cv2.line(canvas, _pt(*start), _pt(*end), label, max(1, int(round(thickness))), cv2.LINE_8)
    cv2.circle(canvas, _pt(*end), max(1, int(round(thickness / 2))), label, -1)
    return end


def _pattern_mask(texture: str, period: int, xx: np.ndarray, yy: np.ndarray, cx: float, top: float):
    """Stripes/checks in body coordinates (anchored at the garment's top and the body axis)."""
    rows = (np.floor((yy - top) / period).astype(np.int32) & 1) == 0
    cols = (np.floor((xx - cx) / period).astype(np.int32) & 1) == 0
    if texture == "hstripes":
        return rows
    if texture == "vstripes":
        return cols
    if texture == "checks":
        return rows ^ cols
    return None


def _draw_person(identity: _Identity, rng: np.random.Generator, height: int, width: int):
    """Draw the person upright at render scale into a label map; returns (labels, shading)."""
    labels = np.zeros((height, width), np.uint8)
    u = height * identity.height  # person height in pixels
    top = (height - u) / 2.0 + rng.uniform(-0.02, 0.02) * height
    cx = width / 2.0
    build = identity.build
    back_view = rng.random() < 0.3

    head_y, head_r = top + 0.075 * u, 0.062 * u
    shoulder_y, shoulder_w = top + 0.17 * u, 0.12 * u * build
    hip_y, hip_w = top + 0.50 * u, 0.085 * u * build
    foot_y = top + 0.95 * u
    arm_t, leg_t = 0.055 * u * build, 0.075 * u * build

    style = identity.hair_style
    hair_y = head_y - 0.01 * u
    if style == "long":
        cv2.ellipse(labels, _pt(cx, head_y + 0.07 * u), _pt(head_r * 1.15, 0.15 * u), 0, 0, 360, _HAIR, -1)
    if identity.bag == "backpack" and not back_view:  # seen behind the shoulders
        cv2.rectangle(labels, _pt(cx - shoulder_w * 1.08, shoulder_y + 0.02 * u),
                      _pt(cx + shoulder_w * 1.08, shoulder_y + 0.24 * u), _BAG, -1)

    # Legs: skin first, garment over the covered length.
    stride = rng.uniform(-0.05, 0.05) * u
    spread = rng.uniform(0.0, 0.03) * u
    leg_len = foot_y - hip_y
    covered = {"trousers": 1.0, "shorts": 0.42, "skirt": 0.0}[identity.lower_shape]
    feet = []
    for side, swing in ((-1, stride), (1, -stride)):
        hip = (cx + side * hip_w * 0.5, hip_y)
        foot = (hip[0] + side * spread + swing * 0.4, foot_y)
        angle = np.arctan2(foot[0] - hip[0], leg_len)
        _limb(labels, hip, angle, leg_len, leg_t * 0.85, _LEG_SKIN)
        if covered > 0:
            _limb(labels, hip, angle, leg_len * covered, leg_t, _LOWER)
        feet.append(foot)
    pelvis = np.array([_pt(cx - hip_w * 1.05, hip_y - 0.02 * u), _pt(cx + hip_w * 1.05, hip_y - 0.02 * u),
                       _pt(cx + hip_w * 0.9, hip_y + 0.08 * u), _pt(cx - hip_w * 0.9, hip_y + 0.08 * u)])
    cv2.fillConvexPoly(labels, pelvis, _LOWER)
    if identity.lower_shape == "skirt":
        skirt = np.array([_pt(cx - hip_w * 1.05, hip_y - 0.02 * u), _pt(cx + hip_w * 1.05, hip_y - 0.02 * u),
                          _pt(cx + hip_w * 1.7, hip_y + 0.22 * u), _pt(cx - hip_w * 1.7, hip_y + 0.22 * u)])
        cv2.fillConvexPoly(labels, skirt, _LOWER)
    for foot in feet:
        cv2.ellipse(labels, _pt(foot[0], foot[1]), _pt(0.05 * u, 0.028 * u), 0, 0, 360, _SHOES, -1)

    # Torso and arms.
    torso = np.array([_pt(cx - shoulder_w, shoulder_y), _pt(cx + shoulder_w, shoulder_y),
                      _pt(cx + hip_w * 1.1, hip_y + 0.01 * u), _pt(cx - hip_w * 1.1, hip_y + 0.01 * u)])
    cv2.fillConvexPoly(labels, torso, _UPPER)
    for side in (-1, 1):
        shoulder = (cx + side * (shoulder_w - arm_t * 0.4), shoulder_y + arm_t * 0.5)
        cv2.circle(labels, _pt(*shoulder), int(arm_t * 0.6), _UPPER, -1)
        upper_angle = side * rng.uniform(0.08, 0.35)
        fore_angle = upper_angle + side * rng.uniform(-0.1, 0.25)
        elbow = _limb(labels, shoulder, upper_angle, 0.16 * u, arm_t, _UPPER)
        forearm = _UPPER if identity.long_sleeves else _ARM_SKIN
        wrist = _limb(labels, elbow, fore_angle, 0.15 * u, arm_t * 0.85, forearm)
        cv2.circle(labels, _pt(*wrist), int(arm_t * 0.55), _ARM_SKIN, -1)

    # Neck, head, hair.
    cv2.rectangle(labels, _pt(cx - 0.025 * u, head_y), _pt(cx + 0.025 * u, shoulder_y + 0.01 * u), _SKIN, -1)
    cv2.ellipse(labels, _pt(cx, head_y), _pt(head_r * 0.88, head_r * 1.08), 0, 0, 360,
                _HAIR if back_view else _SKIN, -1)
    cv2.ellipse(labels, _pt(cx, hair_y), _pt(head_r * 0.95, head_r * 0.8), 0, 180, 360, _HAIR, -1)
    if style == "bob":
        for side in (-1, 1):
            cv2.ellipse(labels, _pt(cx + side * head_r * 0.8, head_y + 0.02 * u),
                        _pt(head_r * 0.3, head_r * 0.9), 0, 0, 360, _HAIR, -1)
    elif style == "bun":
        cv2.circle(labels, _pt(cx, head_y - head_r * 1.1), int(head_r * 0.45), _HAIR, -1)

    # Bags in front of the body.
    if identity.bag in ("left", "right"):
        side = -1 if identity.bag == "left" else 1
        strap_from = _pt(cx - side * shoulder_w * 0.7, shoulder_y)
        bag_centre = (cx + side * (hip_w * 1.5), hip_y - 0.02 * u)
        cv2.line(labels, strap_from, _pt(*bag_centre), _BAG, max(1, int(0.012 * u)))
        cv2.rectangle(labels, _pt(bag_centre[0] - 0.05 * u, bag_centre[1] - 0.04 * u),
                      _pt(bag_centre[0] + 0.05 * u, bag_centre[1] + 0.06 * u), _BAG, -1)
    elif identity.bag == "backpack":
        if back_view:
            cv2.rectangle(labels, _pt(cx - shoulder_w * 0.85, shoulder_y + 0.03 * u),
                          _pt(cx + shoulder_w * 0.85, shoulder_y + 0.25 * u), _BAG, -1)
        else:
            for side in (-1, 1):
                cv2.line(labels, _pt(cx + side * shoulder_w * 0.6, shoulder_y),
                         _pt(cx + side * shoulder_w * 0.7, shoulder_y + 0.2 * u), _BAG, max(1, int(0.015 * u)))

    # Textures live in body coordinates, so they follow the person through the warp below.
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    upper_mask = _pattern_mask(identity.upper.texture, identity.upper.period, xx, yy, cx, shoulder_y)
    if upper_mask is not None:
        labels[(labels == _UPPER) & upper_mask] = _UPPER_PATTERN
    elif identity.upper.texture == "logo" and not back_view:
        logo = np.zeros_like(labels)
        cv2.circle(logo, _pt(cx, shoulder_y + 0.1 * u), int(0.045 * u), 1, -1)
        labels[(labels == _UPPER) & (logo > 0)] = _UPPER_PATTERN
    lower_mask = _pattern_mask(identity.lower.texture, identity.lower.period, xx, yy, cx, hip_y)
    if lower_mask is not None:
        labels[(labels == _LOWER) & lower_mask] = _LOWER_PATTERN

    # Cylinder-like shading across the body and a little towards the feet.
    shading = 1.0 - 0.35 * np.clip(np.abs(xx - cx) / (shoulder_w * 2.2), 0, 1) ** 2 - 0.08 * (yy / height)
    return labels, shading.astype(np.float32)


def _warp_matrix(rng, height: int, width: int) -> np.ndarray:
    """Per-image scale, lean (rotation), shear and shift about the image centre."""
    scale = rng.uniform(0.88, 1.06)
    lean = np.deg2rad(rng.uniform(-4, 4))
    shear = rng.uniform(-0.08, 0.08)
    linear = scale * np.array([[np.cos(lean), -np.sin(lean)], [np.sin(lean), np.cos(lean)]]) @ np.array(
        [[1.0, shear], [0.0, 1.0]])
    centre = np.array([width / 2.0, height / 2.0])
    shift = np.array([rng.uniform(-0.08, 0.08) * width, rng.uniform(-0.04, 0.04) * height])
    offset = centre + shift - linear @ centre
    return np.hstack([linear, offset[:, None]]).astype(np.float32)


def _background(rng, style: _CameraStyle, height: int, width: int) -> np.ndarray:
    """Smooth blotches, fine grain, a floor and a few wall rectangles around the scene colour."""
    base = np.asarray(style.background, np.float32) * rng.uniform(0.8, 1.2)
    if not style.infrared:
        base = base * rng.uniform(0.85, 1.15, 3).astype(np.float32)
    blotches = cv2.resize(rng.normal(0, 0.12, (4, 3)).astype(np.float32), (width, height),
                          interpolation=cv2.INTER_CUBIC)
    image = np.empty((height, width, 3), np.float32)
    image[:] = base
    image += blotches[..., None]
    floor_y = int(rng.uniform(0.72, 0.9) * height)
    image[floor_y:] *= rng.uniform(0.6, 1.3)
    for _ in range(int(rng.integers(0, 4))):
        x0, y0 = int(rng.integers(0, width)), int(rng.integers(0, floor_y))
        x1, y1 = x0 + int(rng.integers(width // 8, width // 2)), y0 + int(rng.integers(height // 10, height // 3))
        tone = rng.uniform(0.6, 1.4) if style.infrared else rng.uniform(0.6, 1.4, 3)
        image[y0:min(y1, floor_y), x0:x1] *= np.asarray(tone, np.float32)
    image += rng.normal(0, 0.03, (height, width, 1)).astype(np.float32)
    return image


def _occlude(rng, image: np.ndarray, parts: np.ndarray, infrared: bool):
    """Paint an occluder over `image` and mark it as background in `parts` (both in place)."""
    height, width = image.shape[:2]
    colour = np.full(3, rng.uniform(0.1, 0.7), np.float32) if infrared else rng.uniform(0.1, 0.9, 3)
    if rng.random() < 0.5:  # box in front of the legs
        top = int(rng.uniform(0.6, 0.8) * height)
        x0 = int(rng.uniform(-0.3, 0.5) * width)
        x1 = x0 + int(rng.uniform(0.4, 0.9) * width)
        region = np.s_[top:, max(0, x0):max(0, x1)]
    else:  # pole
        x0 = int(rng.uniform(0.0, 0.9) * width)
        region = np.s_[:, x0:x0 + max(2, int(rng.uniform(0.06, 0.14) * width))]
    image[region] = colour
    parts[region] = PART_NAMES.index("background")


def _block_vote_table() -> np.ndarray:
    """The majority label of every 2x2 block of part labels, indexed by the block's base-P code
    ((a * P + b) * P + c) * P + d; ties go to the later entry of PART_NAMES, so a part covering
    half a block keeps it rather than the background."""
    num_parts = len(PART_NAMES)
    blocks = np.indices((num_parts,) * 4).reshape(4, -1).T
    counts = np.eye(num_parts, dtype=np.int64)[blocks].sum(axis=1)
    return (num_parts - 1 - np.argmax(counts[:, ::-1], axis=1)).astype(np.uint8)


_BLOCK_VOTE = _block_vote_table()


def _halve_parts(parts: np.ndarray) -> np.ndarray:
    """Part labels at half the render size, by a majority vote over each 2x2 block."""
    num_parts = len(PART_NAMES)
    code = np.zeros((parts.shape[0] // 2, parts.shape[1] // 2), np.int64)
    for dy, dx in ((0, 0), (0, 1), (1, 0), (1, 1)):
        code = code * num_parts + parts[dy::2, dx::2]
    return _BLOCK_VOTE[code]


def _render_image(identity: _Identity, camera: int, index: int, image_size: Tuple[int, int], seed: int):
    """One uint8 BGR image of `identity` seen by `camera` and its (H, W) uint8 ground-truth part
    mask (PART_NAMES indices), a pure function of the arguments. The mask comes from the same
    warped label map as the image and shares its occluder."""
    rng = np.random.default_rng([seed, 2, identity.pid, camera, index])
    style = _CAMERAS[camera]
    out_h, out_w = image_size
    height, width = 2 * out_h, 2 * out_w  # render at twice the size, then area-downsample

    labels, shading = _draw_person(identity, rng, height, width)
    warp = _warp_matrix(rng, height, width)
    labels = cv2.warpAffine(labels, warp, (width, height), flags=cv2.INTER_NEAREST, borderValue=0)
    shading = cv2.warpAffine(shading, warp, (width, height), flags=cv2.INTER_LINEAR, borderValue=1.0)

    lut = _infrared_lut(identity) if style.infrared else _visible_lut(identity)
    person = lut[labels] * shading[..., None]
    image = _background(rng, style, height, width)
    mask = labels > _BACKGROUND
    image[mask] = person[mask]
    parts = _SLOT_TO_PART[labels]
    if rng.random() < 0.2:
        _occlude(rng, image, parts, style.infrared)
    image = cv2.resize(image, (out_w, out_h), interpolation=cv2.INTER_AREA)

    brightness = style.brightness * rng.uniform(0.85, 1.15)
    gamma = style.gamma * rng.uniform(0.9, 1.1)
    if style.infrared:
        image = image * brightness + rng.uniform(-0.05, 0.08)
    else:
        image = image * (np.asarray(style.cast, np.float32) * rng.uniform(0.95, 1.05, 3) * brightness)
    image = np.clip(image, 0.0, 1.0) ** gamma
    if rng.random() < 0.5:
        image = cv2.GaussianBlur(image, (0, 0), rng.uniform(0.3, 1.0))
    noise_shape = (out_h, out_w, 1) if style.infrared else (out_h, out_w, 3)
    image = image + rng.normal(0, style.noise, noise_shape).astype(np.float32)
    image = np.clip(image * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if style.infrared:
        image = np.repeat(image[..., :1], 3, axis=2)  # single-channel look, as SYSU's IR crops
    return image[..., ::-1].copy(), _halve_parts(parts)  # RGB -> BGR for cv2


def _cameras_of(identity: _Identity) -> List[int]:
    return [cam for cam in sorted(_CAMERAS) if cam != identity.missing_camera]


def part_mask_path(root: str, camera: int, pid: int) -> str:
    """The .npz that holds the part masks of `cam{camera}/{pid:04d}/*.jpg`: an array "masks" of
    shape (images, H, W), uint8 PART_NAMES indices, row n - 1 for image {n:04d}.jpg."""
    return os.path.join(root, PART_MASK_DIR, f"cam{camera}", f"{pid:04d}.npz")


def _write_identity(identity: _Identity, root: str, images_per_camera: int, image_size, seed: int) -> int:
    written = 0
    for camera in _cameras_of(identity):
        folder = os.path.join(root, f"cam{camera}", f"{identity.pid:04d}")
        os.makedirs(folder, exist_ok=True)
        masks = []
        for index in range(1, images_per_camera + 1):
            image, parts = _render_image(identity, camera, index, image_size, seed)
            path = os.path.join(folder, f"{index:04d}.jpg")
            if not cv2.imwrite(path, image, [cv2.IMWRITE_JPEG_QUALITY, _JPEG_QUALITY]):
                raise OSError(f"SynthVI: could not write {path}")
            masks.append(parts)
            written += 1
        mask_path = part_mask_path(root, camera, identity.pid)
        os.makedirs(os.path.dirname(mask_path), exist_ok=True)
        np.savez_compressed(mask_path, masks=np.stack(masks))  # fixed zip timestamps: same bytes every run
    return written


def _write_identity_chunk(args) -> int:
    identities, root, images_per_camera, image_size, seed = args
    return sum(_write_identity(identity, root, images_per_camera, image_size, seed) for identity in identities)


# ----------------------------------------------------------------------------- the tree


def _validated_parameters(num_train_ids, num_test_ids, images_per_camera, image_size, seed, num_workers) -> Dict:
    def integer_at_least(name, value, minimum):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
            raise ValueError(f"generate_synthvi: {name}={value!r}, expected an integer >= {minimum}")
        return int(value)

    if not isinstance(image_size, (tuple, list)) or len(image_size) != 2:
        raise ValueError(f"generate_synthvi: image_size={image_size!r}, expected (height, width)")
    parameters = {
        "version": GENERATOR_VERSION,
        "num_train_ids": integer_at_least("num_train_ids", num_train_ids, 2),
        "num_test_ids": integer_at_least("num_test_ids", num_test_ids, 2),
        "images_per_camera": integer_at_least("images_per_camera", images_per_camera, 1),
        "image_size": [integer_at_least("image_size[0] (height)", image_size[0], 32),
                       integer_at_least("image_size[1] (width)", image_size[1], 16)],
        "seed": integer_at_least("seed", seed, 0),
    }
    integer_at_least("num_workers", num_workers, 0)
    return parameters


def _split_pids(parameters: Dict) -> Tuple[List[int], List[int], List[int]]:
    """Shuffled 1-based ids (as in SYSU, splits interleave); ~10% of training ids go to val."""
    num_train, num_test = parameters["num_train_ids"], parameters["num_test_ids"]
    pids = np.random.default_rng([parameters["seed"], 0]).permutation(num_train + num_test) + 1
    train_and_val, test = pids[:num_train], pids[num_train:]
    num_val = max(1, num_train // 10)
    return sorted(train_and_val[num_val:].tolist()), sorted(train_and_val[:num_val].tolist()), sorted(test.tolist())


def _read_marker(root: str) -> Optional[Dict]:
    try:
        with open(os.path.join(root, MARKER_NAME)) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def _clear_tree(root: str):
    """Remove what a previous (possibly interrupted) generation wrote, and nothing else."""
    marker = os.path.join(root, MARKER_NAME)
    if os.path.exists(marker):
        os.remove(marker)
    for name in [f"cam{cam}" for cam in _CAMERAS] + ["exp", PART_MASK_DIR]:
        path = os.path.join(root, name)
        if os.path.isdir(path):
            shutil.rmtree(path)


def generate_synthvi(
    root: str,
    num_train_ids: int = 64,
    num_test_ids: int = 32,
    images_per_camera: int = 4,
    image_size: Sequence[int] = (128, 64),
    seed: int = 0,
    num_workers: int = 0,
) -> Dict:
    """Render SynthVI under `root` in the SYSU-MM01 layout unless a complete tree with the same
    parameters is already there (its SYNTHVI_DONE.json marker matches); a tree without the marker
    or with other parameters is removed and regenerated.

    `num_train_ids` counts train+val identities, `image_size` is (height, width), and
    `num_workers` > 0 renders identities in that many processes (the files do not depend on it).
    Returns a summary: root, id and image counts, the parameters and whether it generated.
    """
    parameters = _validated_parameters(num_train_ids, num_test_ids, images_per_camera, image_size, seed,
                                       num_workers)
    root = os.path.abspath(os.path.expanduser(root))
    marker = _read_marker(root)
    if marker is not None and marker.get("parameters") == parameters:
        logger.info("SynthVI already complete at %s (seed %d); not regenerating.", root, parameters["seed"])
        return dict(marker["summary"], root=root, generated=False)
    if marker is not None:
        logger.info("SynthVI at %s was generated with %s; regenerating with %s.", root,
                    marker.get("parameters"), parameters)
    start = time.perf_counter()
    os.makedirs(root, exist_ok=True)
    _clear_tree(root)

    train_pids, val_pids, test_pids = _split_pids(parameters)
    seed = parameters["seed"]
    identities = (_sample_split_identities(seed, sorted(train_pids + val_pids))
                  + _sample_split_identities(seed, test_pids))
    size = tuple(parameters["image_size"])
    chunks = [(identities[i::max(1, num_workers)], root, images_per_camera, size, seed)
              for i in range(max(1, num_workers))]
    if num_workers > 0:
        with ProcessPoolExecutor(max_workers=num_workers) as pool:
            num_images = sum(pool.map(_write_identity_chunk, chunks))
    else:
        num_images = _write_identity_chunk(chunks[0])

    os.makedirs(os.path.join(root, "exp"), exist_ok=True)
    for name, pids in (("train_id.txt", train_pids), ("val_id.txt", val_pids), ("test_id.txt", test_pids)):
        with open(os.path.join(root, "exp", name), "w") as f:
            f.write(",".join(str(pid) for pid in pids) + "\n")

    num_infrared = sum(
        images_per_camera for identity in identities for cam in _cameras_of(identity) if cam in INFRARED_CAMERAS
    )
    summary = {
        "num_train_ids": len(train_pids),
        "num_val_ids": len(val_pids),
        "num_test_ids": len(test_pids),
        "num_images": num_images,
        "num_visible_images": num_images - num_infrared,
        "num_infrared_images": num_infrared,
        "image_size": list(size),
        "images_per_camera": images_per_camera,
        "seed": seed,
        "part_names": list(PART_NAMES),
    }
    temporary = os.path.join(root, MARKER_NAME + ".tmp")
    with open(temporary, "w") as f:
        json.dump({"parameters": parameters, "summary": summary}, f, indent=2, sort_keys=True)
        f.flush()
        os.fsync(f.fileno())
    os.replace(temporary, os.path.join(root, MARKER_NAME))
    logger.info("SynthVI: wrote %d images of %d identities to %s in %.1f s.", num_images, len(identities), root,
                time.perf_counter() - start)
    return dict(summary, root=root, generated=True)
