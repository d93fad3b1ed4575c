"""SynthVI: procedurally rendered visible-infrared person crops in the SYSU-MM01 on-disk layout.

Why it exists: the engine, the projects and their tests need a cross-modality ReID dataset
that is small, licence-free and generated offline, yet has the property that makes VI-ReID hard:
colour does not transfer from visible to infrared, while body shape, clothing texture and part
layout do.

Three steps, one module each: `identities` samples who is in the set (part attributes with a
colour and a material each), `rendering` draws one image of an identity in one camera with its
ground-truth part mask, and `writing` lays the tree out on disk (SYSU-MM01 folders, split files,
part masks, the completion marker), in parallel when asked. `generate_synthvi` is the entry point.

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
from .rendering import INFRARED_CAMERAS, PART_NAMES, VISIBLE_CAMERAS
from .writing import GENERATOR_VERSION, MARKER_NAME, PART_MASK_DIR, generate_synthvi, part_mask_path

__all__ = [
    "GENERATOR_VERSION",
    "INFRARED_CAMERAS",
    "MARKER_NAME",
    "PART_MASK_DIR",
    "PART_NAMES",
    "VISIBLE_CAMERAS",
    "generate_synthvi",
    "part_mask_path",
]
