"""SynthVI rendering: one image of an identity seen by a camera, and its ground-truth part mask.

The person is drawn once per image as a label map (one label per body-part slot), with per-image
pose (arm and leg angles, front/back view), then warped (scale, shift, shear, lean). Visible images
colour the labels with the identity's colours under the camera's lighting (brightness, gamma,
colour cast); infrared images map each label's *material* to an intensity (plus camera gain,
offset and stronger noise), so hue is lost but texture and layout survive. Then a random textured
background with a floor line, an optional occluder (box or pole), blur and noise.

Ground truth for part discovery: the warped label map, reduced to PART_NAMES (background, head,
upper body with arms, lower body with legs, feet, bag; occluded pixels count as background) and
brought to the image size by a 2x2 majority vote.

Every image uses its own numpy Generator seeded by (seed, pid, camera, index): render_image is a
pure function of its arguments.
"""
from dataclasses import dataclass
from typing import Tuple

import cv2
import numpy as np

from .identities import (HAIR_COLOURS, HAIR_INTENSITY, MATERIAL_INTENSITY, PALETTE, SKIN_INTENSITY, SKIN_TONES,
                         Identity)

VISIBLE_CAMERAS = (1, 2, 4, 5)
INFRARED_CAMERAS = (3, 6)

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
_SLOT_TO_PART = np.zeros(_NUM_SLOTS, np.uint8)
_SLOT_TO_PART[[_SKIN, _HAIR]] = PART_NAMES.index("head")
_SLOT_TO_PART[[_UPPER, _UPPER_PATTERN, _ARM_SKIN]] = PART_NAMES.index("upper_body")
_SLOT_TO_PART[[_LOWER, _LOWER_PATTERN, _LEG_SKIN]] = PART_NAMES.index("lower_body")
_SLOT_TO_PART[_SHOES] = PART_NAMES.index("feet")
_SLOT_TO_PART[_BAG] = PART_NAMES.index("bag")


@dataclass(frozen=True)
class CameraStyle:
    """Fixed per-camera imaging conditions; images add their own jitter around them."""

    infrared: bool
    brightness: float
    gamma: float
    cast: Tuple[float, float, float]  # RGB gains (visible only)
    background: Tuple[float, float, float]  # scene base colour (RGB, or intensity repeated)
    noise: float


CAMERAS = {
    1: CameraStyle(False, 1.00, 1.00, (1.08, 1.00, 0.86), (0.70, 0.62, 0.50), 0.015),  # indoor, warm
    2: CameraStyle(False, 0.85, 1.15, (0.92, 1.00, 1.10), (0.55, 0.58, 0.62), 0.020),  # indoor, dim
    3: CameraStyle(True, 1.00, 0.90, (1.0, 1.0, 1.0), (0.28, 0.28, 0.28), 0.035),  # IR indoor
    4: CameraStyle(False, 1.10, 0.90, (0.95, 1.06, 0.95), (0.45, 0.52, 0.40), 0.015),  # outdoor, green
    5: CameraStyle(False, 1.15, 0.95, (0.92, 0.98, 1.12), (0.62, 0.62, 0.66), 0.020),  # outdoor, sky
    6: CameraStyle(True, 0.85, 1.10, (1.0, 1.0, 1.0), (0.20, 0.20, 0.20), 0.045),  # IR outdoor
}


def _visible_lut(identity: Identity) -> np.ndarray:
    lut = np.zeros((_NUM_SLOTS, 3), np.float32)
    lut[[_SKIN, _ARM_SKIN, _LEG_SKIN]] = SKIN_TONES[identity.skin_tone]
    lut[_HAIR] = HAIR_COLOURS[identity.hair_colour]
    lut[_UPPER] = PALETTE[identity.upper.colour]
    lut[_UPPER_PATTERN] = PALETTE[identity.upper.pattern_colour]
    lut[_LOWER] = PALETTE[identity.lower.colour]
    lut[_LOWER_PATTERN] = PALETTE[identity.lower.pattern_colour]
    lut[_SHOES] = PALETTE[identity.shoe_colour]
    lut[_BAG] = PALETTE[identity.bag_colour]
    return lut


def _infrared_lut(identity: Identity) -> np.ndarray:
    lut = np.zeros(_NUM_SLOTS, np.float32)
    lut[[_SKIN, _ARM_SKIN, _LEG_SKIN]] = SKIN_INTENSITY
    lut[_HAIR] = HAIR_INTENSITY[identity.hair_material]
    lut[_UPPER] = MATERIAL_INTENSITY[identity.upper.material]
    lut[_UPPER_PATTERN] = MATERIAL_INTENSITY[identity.upper.pattern_material]
    lut[_LOWER] = MATERIAL_INTENSITY[identity.lower.material]
    lut[_LOWER_PATTERN] = MATERIAL_INTENSITY[identity.lower.pattern_material]
    lut[_SHOES] = MATERIAL_INTENSITY[identity.shoe_material]
    lut[_BAG] = MATERIAL_INTENSITY[identity.bag_material]
    return np.repeat(lut[:, None], 3, axis=1)


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


def _draw_person(identity: Identity, rng: np.random.Generator, height: int, width: int):
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


def _background(rng, style: CameraStyle, height: int, width: int) -> np.ndarray:
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


def render_image(identity: Identity, camera: int, index: int, image_size: Tuple[int, int], seed: int):
    """One uint8 BGR image of `identity` seen by `camera` and its (H, W) uint8 ground-truth part
    mask (PART_NAMES indices), a pure function of the arguments. The mask comes from the same
    warped label map as the image and shares its occluder."""
    rng = np.random.default_rng([seed, 2, identity.pid, camera, index])
    style = CAMERAS[camera]
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

