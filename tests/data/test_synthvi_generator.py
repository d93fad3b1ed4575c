"""SynthVI generator (partreid/data/synthvi/): SYSU layout, determinism, completion marker, and
cross-modality difficulty."""
import filecmp
import json
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest

from partreid.data.datasets import SYSUMM01, SynthVI
from partreid.data.synthvi import (
    INFRARED_CAMERAS,
    MARKER_NAME,
    PART_NAMES,
    VISIBLE_CAMERAS,
    generate_synthvi,
    identities,
    part_mask_path,
    rendering,
)

CLI = os.path.join(os.path.dirname(__file__), os.pardir, os.pardir, "tools", "generate_synthvi.py")
TINY = dict(num_train_ids=6, num_test_ids=4, images_per_camera=2, image_size=(64, 32))


def _read_ids(root, name):
    with open(os.path.join(root, "exp", name)) as f:
        lines = f.read().splitlines()
    assert len(lines) == 1, f"{name} should hold one line"
    return [int(token) for token in lines[0].split(",")]


def _image_files(root):
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(root) for name in names if name.endswith(".jpg")
    )


def _mask_files(root):
    return sorted(
        os.path.relpath(os.path.join(folder, name), root)
        for folder, _, names in os.walk(os.path.join(root, "part_masks")) for name in names
    )


def _trees_identical(left, right):
    files = _image_files(left)
    if files != _image_files(right) or _mask_files(left) != _mask_files(right):
        return False
    files += _mask_files(left)
    files += [os.path.join("exp", name) for name in ("train_id.txt", "val_id.txt", "test_id.txt")]
    _, mismatch, errors = filecmp.cmpfiles(left, right, files, shallow=False)
    return not mismatch and not errors


@pytest.fixture(scope="module")
def tiny_tree(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("synthvi") / "SynthVI")
    return root, generate_synthvi(root, **TINY)


def test_layout_follows_sysu(tiny_tree):
    root, summary = tiny_tree
    train, val, test = (_read_ids(root, name) for name in ("train_id.txt", "val_id.txt", "test_id.txt"))
    assert len(train) + len(val) == 6 and len(val) >= 1 and len(test) == 4
    assert sorted(train + val + test) == list(range(1, 11)), "ids are 1-based, disjoint and cover all identities"
    assert summary["num_train_ids"] + summary["num_val_ids"] == 6 and summary["generated"]

    for pid in train + val + test:
        visible = [cam for cam in VISIBLE_CAMERAS if os.path.isdir(os.path.join(root, f"cam{cam}", f"{pid:04d}"))]
        infrared = [cam for cam in INFRARED_CAMERAS if os.path.isdir(os.path.join(root, f"cam{cam}", f"{pid:04d}"))]
        assert infrared and {1, 2} & set(visible), f"pid {pid}: visible cams {visible}, infrared cams {infrared}"
        for cam in visible + infrared:
            names = sorted(os.listdir(os.path.join(root, f"cam{cam}", f"{pid:04d}")))
            assert names == ["0001.jpg", "0002.jpg"]

    files = _image_files(root)
    assert len(files) == summary["num_images"]
    colour_spread = []
    for relative in files:
        image = cv2.imread(os.path.join(root, relative), cv2.IMREAD_UNCHANGED)
        assert image.shape == (64, 32, 3)
        camera = int(relative.split(os.sep)[0][len("cam"):])
        spread = int(image.max(axis=2).astype(int).sum() - image.min(axis=2).astype(int).sum())
        if camera in INFRARED_CAMERAS:
            assert spread == 0, f"{relative}: infrared images must have equal channels"
        else:
            colour_spread.append(spread)
    assert min(colour_spread) > 0, "visible images must be in colour"

    with open(os.path.join(root, MARKER_NAME)) as f:
        marker = json.load(f)
    assert marker["parameters"]["image_size"] == [64, 32] and marker["summary"]["num_images"] == len(files)


def test_every_image_has_a_compact_part_mask_that_sysu_readers_ignore(tiny_tree):
    root, summary = tiny_tree
    files = _image_files(root)
    by_folder = {}
    for relative in files:
        camera_folder, pid, name = relative.split(os.sep)
        by_folder.setdefault((int(camera_folder[len("cam"):]), int(pid)), []).append(name)
    mask_bytes = 0
    for (camera, pid), names in by_folder.items():
        path = part_mask_path(root, camera, pid)
        masks = np.load(path)["masks"]
        mask_bytes += os.path.getsize(path)
        assert masks.shape == (len(names), 64, 32) and masks.dtype == np.uint8, path
        assert masks.max() < len(PART_NAMES) and (masks > 0).any(axis=(1, 2)).all(), f"{path}: no person drawn"
    assert len(_mask_files(root)) == len(by_folder)
    assert mask_bytes < 0.25 * 64 * 32 * len(files), f"{mask_bytes / len(files):.0f} bytes per 64x32 mask"
    assert summary["part_names"] == list(PART_NAMES)

    dataset = SynthVI(root=root, params=dict(TINY, image_size=[64, 32], seed=0), auto_generate=False)
    sysu = SYSUMM01(root=root)
    assert [item.path for item in sysu.test] == [item.path for item in dataset.test]
    assert len(sysu.train) + len(sysu.test) == len(files)
    assert dataset.part_names == PART_NAMES
    item = dataset.test[-1]
    camera, pid, number = item.camid, int(item.path.split(os.sep)[-2]), int(item.path[-8:-4])
    assert np.array_equal(dataset.part_mask(item), np.load(part_mask_path(root, camera, pid))["masks"][number - 1])


def test_part_mask_follows_the_warped_person_and_its_occluder(monkeypatch):
    """Render every person slot white on a black scene: the mask's foreground must be where the
    image is bright (the same warp), far better than the mirrored mask, and every pixel an
    occluder paints over must be background in the mask."""
    occluded_pixels = []
    occlude = rendering._occlude

    def black_occluder(rng, image, parts, infrared):
        before = image.copy()
        occlude(rng, image, parts, infrared)
        changed = (image != before).any(axis=-1)
        occluded_pixels.append(parts[changed])
        image[changed] = 0.0

    monkeypatch.setattr(rendering, "_occlude", black_occluder)
    monkeypatch.setattr(rendering, "_visible_lut", lambda identity: np.ones((11, 3), np.float32))
    monkeypatch.setattr(rendering, "_background", lambda rng, style, h, w: np.zeros((h, w, 3), np.float32))
    iou, mirrored_iou = [], []
    for identity in identities.sample_split_identities(0, range(1, 11)):
        for camera in VISIBLE_CAMERAS:
            image, parts = rendering.render_image(identity, camera, 1, (64, 32), 0)
            bright, person = image.mean(axis=-1) > 127, parts > 0
            iou.append((bright & person).sum() / (bright | person).sum())
            mirrored = person[:, ::-1]
            mirrored_iou.append((bright & mirrored).sum() / (bright | mirrored).sum())
    assert np.mean(iou) > 0.85 and np.mean(iou) > np.mean(mirrored_iou) + 0.2, (np.mean(iou), np.mean(mirrored_iou))
    assert sum(pixels.size for pixels in occluded_pixels) > 0, "no occluder drawn: render more images"
    assert all((pixels == 0).all() for pixels in occluded_pixels)


def test_same_arguments_give_identical_bytes(tiny_tree, tmp_path):
    root, _ = tiny_tree
    again = generate_synthvi(str(tmp_path / "again"), **TINY, num_workers=2)
    assert again["generated"]
    assert _trees_identical(root, str(tmp_path / "again"))

    generate_synthvi(str(tmp_path / "other_seed"), **dict(TINY, seed=1))
    assert not _trees_identical(root, str(tmp_path / "other_seed"))


@pytest.mark.slow
def test_marker_skips_complete_tree_and_regenerates_partial_or_stale(tmp_path):
    root = str(tmp_path / "SynthVI")
    generate_synthvi(root, **TINY)
    assert generate_synthvi(root, **TINY)["generated"] is False

    # An interrupted run leaves images but no marker: it must be rebuilt, not trusted.
    victim = os.path.join(root, _image_files(root)[0])
    with open(victim, "wb") as f:
        f.write(b"truncated")
    os.remove(os.path.join(root, MARKER_NAME))
    assert generate_synthvi(root, **TINY)["generated"] is True
    assert cv2.imread(victim) is not None

    # Other parameters: old identities must not survive next to the new ones.
    smaller = generate_synthvi(root, **dict(TINY, num_test_ids=2))
    assert smaller["generated"] and smaller["num_test_ids"] == 2
    pids = {int(name) for cam in range(1, 7) for name in os.listdir(os.path.join(root, f"cam{cam}"))}
    assert pids == set(range(1, 9))


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="num_test_ids"):
        generate_synthvi("/nonexistent/never_written", num_test_ids=0)
    with pytest.raises(ValueError, match="image_size"):
        generate_synthvi("/nonexistent/never_written", image_size=(128,))
    with pytest.raises(ValueError, match="height"):
        generate_synthvi("/nonexistent/never_written", image_size=(8, 64))


@pytest.mark.slow
def test_cli_prints_summary(tmp_path):
    root = str(tmp_path / "cli")
    result = subprocess.run(
        [sys.executable, CLI, "--root", root, "--num-train-ids", "2", "--num-test-ids", "2",
         "--images-per-camera", "1", "--image-size", "64", "32", "--seed", "3"],
        capture_output=True, text=True, check=True,
    )
    summary = json.loads(result.stdout)
    assert summary["seed"] == 3 and summary["num_images"] == len(_image_files(root))


# ----------------------------------------------------------------------------- difficulty


def _load(root, pids, cameras):
    images, labels = [], []
    for cam in cameras:
        for pid in pids:
            folder = os.path.join(root, f"cam{cam}", f"{pid:04d}")
            for name in sorted(os.listdir(folder)) if os.path.isdir(folder) else []:
                images.append(cv2.cvtColor(cv2.imread(os.path.join(folder, name)), cv2.COLOR_BGR2GRAY))
                labels.append(pid)
    return images, np.array(labels)


def _normalised(features):
    features = np.stack(features).astype(np.float64)
    return features / np.linalg.norm(features, axis=1, keepdims=True)


def _raw_pixels(images):
    """Z-scored 32x16 grayscale pixels (visible images are converted to gray, as IR is)."""
    small = [cv2.resize(image, (16, 32), interpolation=cv2.INTER_AREA).ravel().astype(np.float64) for image in images]
    return _normalised([(pixels - pixels.mean()) / (pixels.std() + 1e-6) for pixels in small])


def _gradient_bands(images, bands=8, bins=6):
    """Orientation histograms of intensity edges in horizontal bands: polarity-free, so stripes,
    checks and body outline can match across modalities while colour and brightness cannot."""
    features = []
    for image in images:
        gray = image.astype(np.float32)
        gray = (gray - gray.mean()) / (gray.std() + 1e-6)
        gx, gy = cv2.Sobel(gray, cv2.CV_32F, 1, 0), cv2.Sobel(gray, cv2.CV_32F, 0, 1)
        magnitude = np.hypot(gx, gy)[:, 12:-12]
        orientation = np.minimum(((np.arctan2(gy, gx) % np.pi) / np.pi * bins).astype(int), bins - 1)[:, 12:-12]
        height = gray.shape[0] // bands
        features.append(np.sqrt(np.concatenate([
            np.bincount(orientation[k * height:(k + 1) * height].ravel(),
                        magnitude[k * height:(k + 1) * height].ravel(), bins)
            for k in range(bands)])))
    features = np.stack(features)
    return _normalised(features - features.mean(axis=0))


def _rank1(query, query_pids, gallery, gallery_pids):
    return 100.0 * float(np.mean(gallery_pids[np.argmax(query @ gallery.T, axis=1)] == query_pids))


@pytest.mark.slow
def test_cheap_matchers_bound_cross_modality_difficulty(tmp_path):
    """Raw pixels must not solve IR->visible search (hue and brightness do not transfer) although
    they do help visible->visible; polarity-free edge features must beat chance across
    modalities, showing that texture and layout do transfer."""
    root = str(tmp_path / "SynthVI")
    generate_synthvi(root, num_train_ids=2, num_test_ids=24, images_per_camera=3)
    test_pids = _read_ids(root, "test_id.txt")
    chance = 100.0 / len(test_pids)
    infrared, infrared_pids = _load(root, test_pids, INFRARED_CAMERAS)
    visible, visible_pids = _load(root, test_pids, VISIBLE_CAMERAS)
    cam1, cam1_pids = _load(root, test_pids, (1,))
    other_visible, other_visible_pids = _load(root, test_pids, (2, 4, 5))

    pixels_cross = _rank1(_raw_pixels(infrared), infrared_pids, _raw_pixels(visible), visible_pids)
    pixels_visible = _rank1(_raw_pixels(cam1), cam1_pids, _raw_pixels(other_visible), other_visible_pids)
    edges_cross = _rank1(_gradient_bands(infrared), infrared_pids, _gradient_bands(visible), visible_pids)
    assert pixels_cross < 15.0, f"raw pixels solve IR->visible search too well: R1 {pixels_cross:.1f}%"
    assert pixels_visible > 18.0 and pixels_visible > 2 * pixels_cross, (pixels_visible, pixels_cross)
    assert 2 * chance < edges_cross < 60.0, f"edge matcher IR->visible R1 {edges_cross:.1f}%, chance {chance:.1f}%"
