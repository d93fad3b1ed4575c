import os

import cv2
import numpy as np
import pytest
import torch

from partreid.data import ReidImageDataset, ReidItem, collate_batch
from partreid.data.common import SampleKey
from partreid.data.transforms import ImageReadError, TrainAugmentation, read_image, resize


@pytest.fixture
def colour_jpeg(tmp_path):
    """A 20x10 image: red top half, blue bottom half (written as BGR by OpenCV)."""
    image = np.zeros((20, 10, 3), np.uint8)
    image[:10] = (0, 0, 255)
    image[10:] = (255, 0, 0)
    path = str(tmp_path / "colour.png")
    cv2.imwrite(path, image)
    return path


@pytest.mark.parametrize("decoder", ["opencv", "pil"])
def test_read_image_is_rgb_and_ir_gets_three_channels(colour_jpeg, tmp_path, decoder):
    image = read_image(colour_jpeg, decoder)
    assert image.dtype == np.uint8 and image.shape == (20, 10, 3)
    assert tuple(image[0, 0]) == (255, 0, 0) and tuple(image[-1, 0]) == (0, 0, 255)
    gray = np.arange(200, dtype=np.uint8).reshape(20, 10)
    cv2.imwrite(str(tmp_path / "ir.png"), gray)
    ir = read_image(str(tmp_path / "ir.png"), decoder)
    assert ir.shape == (20, 10, 3)
    assert np.array_equal(ir[..., 0], gray) and np.array_equal(ir[..., 1], gray) and np.array_equal(ir[..., 2], gray)


@pytest.mark.parametrize("decoder", ["opencv", "pil"])
def test_corrupt_truncated_and_missing_images_name_the_file(tmp_path, decoder):
    garbage = tmp_path / "garbage.jpg"
    garbage.write_bytes(b"this is not an image")
    with pytest.raises(ImageReadError, match=f"Corrupt image {garbage}"):
        read_image(str(garbage), decoder)
    ok, encoded = cv2.imencode(".jpg", np.random.default_rng(0).integers(0, 256, (64, 32, 3), dtype=np.uint8))
    truncated = tmp_path / "truncated.jpg"
    truncated.write_bytes(encoded.tobytes()[: len(encoded) // 2])
    with pytest.raises(ImageReadError, match=f"Corrupt image {truncated}: truncated JPEG"):
        read_image(str(truncated), decoder)
    with pytest.raises(ImageReadError, match="Cannot read image .*absent.jpg"):
        read_image(str(tmp_path / "absent.jpg"), decoder)
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    with pytest.raises(ImageReadError, match=rf"Empty image file {empty} \(0 bytes\)"):
        read_image(str(empty), decoder)


def test_unknown_decoder():
    with pytest.raises(ValueError, match="INPUT.DECODER must be one of"):
        read_image("x.jpg", "turbojpeg")


def test_train_augmentation_shape_dtype_and_reproducibility():
    image = np.random.default_rng(0).integers(0, 256, (24, 12, 3), dtype=np.uint8)
    augment = TrainAugmentation(padding=3, flip_prob=0.5, erasing_prob=0.5)
    out = augment(image, np.random.default_rng(7))
    assert out.dtype == torch.uint8 and out.shape == (3, 24, 12)
    assert torch.equal(out, augment(image, np.random.default_rng(7)))
    outputs = [augment(image, np.random.default_rng(seed)) for seed in range(8)]
    assert len({o.numpy().tobytes() for o in outputs}) == 8


def test_train_augmentation_crop_and_flip():
    image = np.random.default_rng(1).integers(1, 256, (8, 6, 3), dtype=np.uint8)
    identity = TrainAugmentation(padding=0, flip_prob=0.0, erasing_prob=0.0)
    assert np.array_equal(identity(image, np.random.default_rng(0)).permute(1, 2, 0).numpy(), image)
    flip = TrainAugmentation(padding=0, flip_prob=1.0, erasing_prob=0.0)
    assert np.array_equal(flip(image, np.random.default_rng(0)).permute(1, 2, 0).numpy(), image[:, ::-1])
    crop = TrainAugmentation(padding=2, flip_prob=0.0, erasing_prob=0.0)
    for seed in range(10):
        out = crop(image, np.random.default_rng(seed)).permute(1, 2, 0).numpy()
        padded = np.pad(image, ((2, 2), (2, 2), (0, 0)))
        windows = [padded[t : t + 8, l : l + 6] for t in range(5) for l in range(5)]
        assert any(np.array_equal(out, w) for w in windows)


def test_random_erase_fills_one_rectangle_within_area_bounds():
    erase = TrainAugmentation(padding=0, flip_prob=0.0, erasing_prob=1.0, erasing_area=(0.1, 0.2))
    image = erase(np.zeros((40, 20, 3), dtype=np.uint8), np.random.default_rng(3))
    changed = (image != 0).any(0)
    rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
    height, width = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
    assert 0.1 * 800 * 0.8 <= height * width <= 0.2 * 800 * 1.2
    assert changed.sum() > 0.9 * height * width  # random fill: almost no pixel stays 0


def test_train_augmentation_rejects_bad_values():
    with pytest.raises(ValueError, match="INPUT.FLIP_PROB"):
        TrainAugmentation(flip_prob=1.5)
    with pytest.raises(ValueError, match="INPUT.RANDOM_ERASING.AREA_RANGE"):
        TrainAugmentation(erasing_area=(0.5, 0.1))


def test_image_dataset_train_and_test_items(tmp_path, colour_jpeg):
    items = [ReidItem(colour_jpeg, 4, 3, 1)]
    test = ReidImageDataset(items, (8, 4))
    sample = test[0]
    assert sample["image"].shape == (3, 8, 4) and sample["image"].dtype == torch.uint8
    assert torch.equal(sample["image"], torch.from_numpy(resize(read_image(colour_jpeg), (8, 4))).permute(2, 0, 1))
    batch = collate_batch([sample, sample])
    assert batch["images"].shape == (2, 3, 8, 4)
    for key, value in (("targets", 4), ("camids", 3), ("modalities", 1), ("indices", 0)):
        assert batch[key].dtype == torch.int64 and batch[key].tolist() == [value, value]
    train = ReidImageDataset(items, (8, 4), augmentation=TrainAugmentation(padding=1))
    cached = ReidImageDataset(items, (8, 4), augmentation=TrainAugmentation(padding=1), cache=True)
    assert torch.equal(train[SampleKey(0, 11)]["image"], cached[SampleKey(0, 11)]["image"])
    with pytest.raises(TypeError, match="SampleKey"):
        train[0]
    expected = cached[SampleKey(0, 11)]["image"]
    os.remove(colour_jpeg)  # the cache no longer touches the disk; the plain dataset does
    assert torch.equal(cached[SampleKey(0, 11)]["image"], expected)
    with pytest.raises(ImageReadError, match=f"Cannot read image {colour_jpeg}"):
        train[SampleKey(0, 11)]


def test_padding_fill_is_the_value_of_the_padded_border():
    image = np.full((8, 6, 3), 200, dtype=np.uint8)
    crop = TrainAugmentation(padding=3, flip_prob=0.0, erasing_prob=0.0, padding_fill=127)
    seen = set()
    for seed in range(20):
        seen |= set(np.unique(crop(image, np.random.default_rng(seed)).numpy()).tolist())
    assert seen == {127, 200}  # the border shows the fill, never 0
    with pytest.raises(ValueError, match="INPUT.PADDING_FILL"):
        TrainAugmentation(padding_fill=300)


def test_erasing_with_the_pixel_mean_matches_torchvisions_default_shape_rule():
    """FILL pixel_mean with torchvision's area / aspect / attempts: one rectangle of a single
    colour (the rounded mean), its area and aspect inside torchvision's ranges."""
    from partreid.config import get_cfg

    cfg = get_cfg()
    cfg.INPUT.RANDOM_ERASING.merge_from_list(["PROB", 1.0, "AREA_RANGE", [0.02, 0.33], "MAX_ASPECT", 3.3,
                                              "ATTEMPTS", 10, "FILL", "pixel_mean"])
    cfg.INPUT.PADDING = 0
    augment = TrainAugmentation.from_config(cfg)
    assert augment.erasing_fill == (124, 116, 104)  # round(MODEL.PIXEL_MEAN)
    assert augment.erasing_aspect == (0.3, 3.3) and augment.erasing_attempts == 10
    image = np.zeros((96, 32, 3), dtype=np.uint8)
    erased = 0
    for seed in range(30):
        out = augment(image, np.random.default_rng(seed))
        changed = (out != 0).any(0)
        if not changed.any():
            continue  # no rectangle fitted in 10 attempts: the image stays as it was
        erased += 1
        rows, cols = changed.any(1).nonzero().flatten(), changed.any(0).nonzero().flatten()
        h, w = int(rows.max() - rows.min() + 1), int(cols.max() - cols.min() + 1)
        assert int(changed.sum()) == h * w  # one solid rectangle
        assert {tuple(out[:, r, c].tolist()) for r, c in changed.nonzero().tolist()} == {(124, 116, 104)}
        assert 0.02 * 96 * 32 * 0.8 <= h * w <= 0.33 * 96 * 32 * 1.2 and 0.3 / 1.3 <= h / w <= 3.3 * 1.3
    assert erased >= 20
    cfg.INPUT.RANDOM_ERASING.FILL = "zeros"
    with pytest.raises(ValueError, match="INPUT.RANDOM_ERASING.FILL"):
        TrainAugmentation.from_config(cfg)


def test_erasing_attempts_bound_how_often_a_rectangle_fits():
    """With areas that rarely fit a tall image, 1 attempt erases less often than 100."""
    image = np.zeros((60, 10, 3), dtype=np.uint8)

    def erased_share(attempts):
        augment = TrainAugmentation(padding=0, flip_prob=0.0, erasing_prob=1.0, erasing_area=(0.1, 0.4),
                                    erasing_attempts=attempts, erasing_fill=(1, 1, 1))
        return np.mean([bool(augment(image, np.random.default_rng(s)).any()) for s in range(200)])

    assert erased_share(1) < 0.5 < 0.95 < erased_share(100)


def test_resize_backends_agree_on_upscaling_and_differ_on_shrinking():
    rng = np.random.default_rng(0)
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::2] = 255  # one-pixel stripes: averaging gives grey, two-tap sampling does not
    small_cv, small_pil = resize(stripes, (21, 21), "opencv"), resize(stripes, (21, 21), "pil")
    assert small_cv.shape == small_pil.shape == (21, 21, 3)
    assert small_pil.std() < 10  # PIL averages the stripes into grey
    assert small_cv.std() > 50  # OpenCV's two taps alias them
    smooth = rng.integers(0, 256, (8, 4, 3), dtype=np.uint8)
    assert np.abs(resize(smooth, (16, 8), "pil").astype(int) - resize(smooth, (16, 8), "opencv")).max() <= 40
    with pytest.raises(ValueError, match="INPUT.RESIZE_BACKEND"):
        resize(stripes, (16, 16), "torch")


def test_image_dataset_resizes_with_its_backend(tmp_path):
    import cv2

    path = str(tmp_path / "stripes.png")
    stripes = np.zeros((64, 64, 3), dtype=np.uint8)
    stripes[:, ::2] = 255
    cv2.imwrite(path, stripes)
    items = [ReidItem(path, 0, 1, 0)]
    pil = ReidImageDataset(items, (21, 21), resize_backend="pil")[0]["image"]
    opencv = ReidImageDataset(items, (21, 21))[0]["image"]
    assert torch.equal(pil.permute(1, 2, 0), torch.from_numpy(resize(stripes, (21, 21), "pil")))
    assert not torch.equal(pil, opencv)
