"""DATALOADER.DEVICE_CACHE: the device path run on CPU tensors gives the CPU loader's batches."""
import os

import numpy as np
import pytest
import torch
from loader_checks import assert_same_batches, take

from partreid.checkpoint import load_checkpoint_file
from partreid.data import build as data_build
from partreid.data import build_dataset, build_train_loader
from partreid.data.common import SampleKey
from partreid.data.device_cache import augment_batch, draw_batch
from partreid.data.image_cache import read_resized_images
from partreid.data.shutdown import close_loader_iterator
from partreid.data.transforms import TrainAugmentation
from partreid.utils.testing import REPO_ROOT, run_train_net, tiny_synthvi_opts

BASELINE_CONFIG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")


@pytest.fixture
def sysu(make_sysu, cfg):
    make_sysu(train=(1, 2, 3, 4), val=(9,), test=(5, 6), images=2)
    cfg.MODEL.DEVICE = "cpu"
    cfg.DATALOADER.ITERS_PER_EPOCH = 3
    return build_dataset(cfg, "SYSUMM01")


@pytest.mark.parametrize("options", [
    {},  # the defaults: black padding, erasing with noise
    {"INPUT.PADDING_FILL": 127, "INPUT.RANDOM_ERASING.FILL": "pixel_mean", "INPUT.RANDOM_ERASING.PROB": 1.0},
    {"INPUT.PADDING": 0, "INPUT.FLIP_PROB": 1.0, "INPUT.RANDOM_ERASING.ENABLED": False},
    {"INPUT.PADDING": 5, "INPUT.RANDOM_ERASING.PROB": 1.0, "INPUT.RANDOM_ERASING.AREA_RANGE": [0.3, 0.6]},
])
def test_device_path_gives_the_cpu_loaders_batches_bit_for_bit(sysu, cfg, options):
    for key, value in options.items():
        cfg.merge_from_list([key, value])
    cpu = take(build_train_loader(cfg, sysu), 6)
    cfg.DATALOADER.DEVICE_CACHE = True
    device = take(build_train_loader(cfg, sysu), 6)
    assert_same_batches(device, cpu)
    # and so the batch statistics are the CPU path's
    images = torch.stack([b["images"] for b in device]).float()
    reference = torch.stack([b["images"] for b in cpu]).float()
    assert images.mean() == reference.mean() and images.std() == reference.std()


def test_resumed_device_loader_continues_the_stream(sysu, cfg):
    cfg.DATALOADER.DEVICE_CACHE = True
    stream = take(build_train_loader(cfg, sysu), 7)
    assert_same_batches(take(build_train_loader(cfg, sysu, start_iter=4), 3), stream[4:])


def coordinate_image(height, width):
    """Channel 0 holds the row, channel 1 the column, channel 2 is 250: a pixel says where it came from."""
    image = np.full((height, width, 3), 250, dtype=np.uint8)
    image[..., 0] = np.arange(height)[:, None]
    image[..., 1] = np.arange(width)[None, :]
    return image


def test_one_sample_is_cropped_flipped_and_erased_as_its_seed_draws():
    """The draws come from the sample's seed in the documented order (crop top, crop left, flip,
    erase, box, noise), and the device path puts every pixel where they say."""
    height, width, padding = 24, 12, 3
    augmentation = TrainAugmentation(padding=padding, flip_prob=0.5, erasing_prob=0.5, padding_fill=99)
    seed = next(s for s in range(1000) if (lambda d: d.flip and d.erase_box and d.top < padding)(
        augmentation.draw(np.random.default_rng(s), height, width)))
    rng = np.random.default_rng(seed)
    top, left = (int(v) for v in rng.integers(0, 2 * padding + 1, size=2))
    assert rng.random() < 0.5 and rng.random() < 0.5  # flipped, erased
    drawn = augmentation.draw(np.random.default_rng(seed), height, width)
    assert (drawn.top, drawn.left, drawn.flip) == (top, left, True)

    table, noise = draw_batch(augmentation, [SampleKey(0, seed)], height, width)
    images = torch.from_numpy(coordinate_image(height, width))[None]
    out = augment_batch(images, torch.from_numpy(table), torch.from_numpy(noise), padding, 99, None)[0]
    box_top, box_left, box_h, box_w = drawn.erase_box
    for y in range(height):
        for x in range(width):
            if box_top <= y < box_top + box_h and box_left <= x < box_left + box_w:
                expected = drawn.erase_noise[:, y - box_top, x - box_left].tolist()
            else:
                src_y, src_x = y + top - padding, (width - 1 - x) + left - padding
                inside = 0 <= src_y < height and 0 <= src_x < width
                expected = [src_y, src_x, 250] if inside else [99, 99, 99]
            assert out[:, y, x].tolist() == expected, (y, x)
    assert top < padding and (out[:, 0, :] == 99).all()  # the crop starts in the top padding


def test_images_are_decoded_once_per_dataset(sysu, cfg, monkeypatch):
    """The trainer's loader and PreciseBN's (rebuilt at every evaluation) share one decode."""
    calls = []
    real = data_build.read_resized_images
    monkeypatch.setattr(data_build, "read_resized_images", lambda *a, **k: calls.append(a) or real(*a, **k))
    for cache in ("INPUT.CACHE_IMAGES", "DATALOADER.DEVICE_CACHE"):
        cfg.merge_from_list([cache, True])
        for start_iter in (0, 2, 5):
            take(build_train_loader(cfg, sysu, start_iter=start_iter), 1)
        cfg.merge_from_list([cache, False])
    assert len(calls) == 2
    cfg.INPUT.SIZE_TRAIN = [8, 4]  # another size is another decode
    cfg.DATALOADER.DEVICE_CACHE = True
    take(build_train_loader(cfg, sysu), 1)
    assert len(calls) == 3


def test_parallel_decoding_fills_the_same_array(sysu):
    serial = read_resized_images(sysu.train, (16, 8), num_threads=1)
    assert np.array_equal(read_resized_images(sysu.train, (16, 8), num_threads=3), serial)
    assert serial.shape == (len(sysu.train), 16, 8, 3) and serial.any()


def test_closed_iterator_stops_its_thread_and_the_stream(sysu, cfg):
    cfg.DATALOADER.DEVICE_CACHE = True
    iterator = iter(build_train_loader(cfg, sysu))
    next(iterator)
    close_loader_iterator(iterator)
    assert iterator._pool._shutdown
    with pytest.raises(StopIteration):
        next(iterator)


@pytest.mark.slow
def test_training_with_the_device_cache_ends_with_the_same_weights(tmp_path):
    data_root = str(tmp_path / "data")
    weights = {}
    for arm, device_cache in (("cpu_loader", False), ("device_cache", True)):
        out = str(tmp_path / arm)
        opts = tiny_synthvi_opts(data_root, out, **{"DATALOADER.DEVICE_CACHE": device_cache, "TEST.EVAL_PERIOD": 0,
                                                   "MODEL.DEVICE": "cpu"})
        proc = run_train_net(["--config-file", BASELINE_CONFIG, *opts], threads=1, timeout=300)
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
        weights[arm] = load_checkpoint_file(os.path.join(out, "model_final.pth"))["model"]
    assert weights["cpu_loader"].keys() == weights["device_cache"].keys()
    assert all(torch.equal(weights["cpu_loader"][k], weights["device_cache"][k]) for k in weights["cpu_loader"])
