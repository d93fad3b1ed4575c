import os

import pytest
import torch
from loader_checks import BATCH_KEYS, assert_same_batches, take
from vi_reid_trees import write_image

from partreid.data import INFRARED, VISIBLE, build_dataset, build_test_loader, build_train_loader, iters_per_epoch
from partreid.data.shutdown import close_loader_iterator
from partreid.data.transforms import ImageReadError
from partreid.utils import comm

@pytest.fixture
def sysu(make_sysu, cfg):
    make_sysu(train=(1, 2, 3, 4), val=(9,), test=(5, 6), images=2)
    return build_dataset(cfg, "SYSUMM01")


def test_train_batches_follow_the_contract(sysu, cfg):
    batch = take(build_train_loader(cfg, sysu), 1)[0]
    assert set(batch) == set(BATCH_KEYS)
    assert batch["images"].dtype == torch.uint8 and batch["images"].shape == (8, 3, 16, 8)
    for key in BATCH_KEYS[1:]:
        assert batch[key].dtype == torch.int64 and batch[key].shape == (8,)
    for i, index in enumerate(batch["indices"].tolist()):
        item = sysu.train[index]
        assert (item.pid, item.camid, item.modality) == (
            batch["targets"][i].item(), batch["camids"][i].item(), batch["modalities"][i].item()
        )
    assert batch["modalities"].tolist() == [VISIBLE, VISIBLE, INFRARED, INFRARED] * 2


def test_train_loader_builds_its_dataset_from_config(make_sysu, cfg):
    make_sysu(folder="SYSU-MM01")
    cfg.DATASETS.TRAIN = "SYSUMM01"
    assert take(build_train_loader(cfg), 1)[0]["images"].shape == (8, 3, 16, 8)


@pytest.mark.parametrize("num_workers", [0, 2])
def test_resumed_loader_reproduces_the_uninterrupted_stream(sysu, cfg, num_workers):
    cfg.DATALOADER.ITERS_PER_EPOCH = 3
    cfg.DATALOADER.NUM_WORKERS = num_workers
    stream = take(build_train_loader(cfg, sysu), 7)
    assert_same_batches(take(build_train_loader(cfg, sysu, start_iter=4), 3), stream[4:])
    cfg.DATALOADER.NUM_WORKERS = 0 if num_workers else 2
    assert_same_batches(take(build_train_loader(cfg, sysu, start_iter=2), 5), stream[2:])


def test_cached_images_give_identical_batches(sysu, cfg):
    plain = take(build_train_loader(cfg, sysu), 3)
    cfg.INPUT.CACHE_IMAGES = True
    assert_same_batches(take(build_train_loader(cfg, sysu), 3), plain)


def test_pil_and_opencv_decoders_agree_on_lossless_images(tmp_path, cfg):
    from partreid.data.datasets.base import ReidDataset, ReidItem

    items = [ReidItem(write_image(str(tmp_path / f"{i}.png"), i), i, 1, VISIBLE) for i in range(3)]
    dataset = ReidDataset(str(tmp_path), [], items)
    batches = {}
    for decoder in ("opencv", "pil"):
        cfg.INPUT.DECODER = decoder
        batches[decoder] = next(iter(build_test_loader(cfg, dataset)))
    assert torch.equal(batches["opencv"]["images"], batches["pil"]["images"])


def test_iters_per_epoch(sysu, cfg):
    # 5 train ids x 4 visible cameras x 2 images = 40 visible, 20 infrared; P*K/2 = 4.
    assert iters_per_epoch(cfg, sysu) == 20 // 4
    cfg.DATALOADER.ITERS_PER_EPOCH = 7
    assert iters_per_epoch(cfg, sysu) == 7
    cfg.DATALOADER.ITERS_PER_EPOCH = 0
    cfg.DATALOADER.NUM_IDENTITIES = 16
    assert iters_per_epoch(cfg, sysu) == 1


def test_test_loader_in_order_and_sharded(sysu, cfg, monkeypatch):
    batches = list(build_test_loader(cfg, sysu))
    assert [len(b["indices"]) for b in batches][:-1] == [5] * (len(batches) - 1)
    indices = torch.cat([b["indices"] for b in batches]).tolist()
    assert indices == list(range(len(sysu.test)))
    assert torch.cat([b["targets"] for b in batches]).tolist() == [it.pid for it in sysu.test]
    assert batches[0]["images"].shape[1:] == (3, 16, 8)
    shards = []
    monkeypatch.setattr(comm, "get_world_size", lambda: 3)
    for rank in range(3):
        monkeypatch.setattr(comm, "get_rank", lambda rank=rank: rank)
        shards.append(torch.cat([b["indices"] for b in build_test_loader(cfg, sysu)]).tolist())
    assert sum(shards, []) == indices
    assert all(abs(len(s) - len(indices) / 3) < 1 for s in shards)


def test_train_batches_shard_over_ranks(sysu, cfg, monkeypatch):
    single = take(build_train_loader(cfg, sysu, start_iter=1), 2)
    monkeypatch.setattr(comm, "get_world_size", lambda: 2)
    shards = []
    for rank in range(2):
        monkeypatch.setattr(comm, "get_rank", lambda rank=rank: rank)
        shards.append(take(build_train_loader(cfg, sysu, start_iter=1), 2))
    for step in range(2):
        for key in BATCH_KEYS:
            assert torch.equal(torch.cat([shards[0][step][key], shards[1][step][key]]), single[step][key])


def test_corrupt_jpeg_in_the_tree_names_the_file(sysu, cfg):
    broken = sysu.test[3].path
    with open(broken, "r+b") as f:
        data = f.read()
        f.seek(0)
        f.truncate()
        f.write(data[: len(data) // 2])
    with pytest.raises(ImageReadError, match=f"Corrupt image {broken}"):
        list(build_test_loader(cfg, sysu))
    cfg.DATALOADER.NUM_WORKERS = 1
    iterator = iter(build_test_loader(cfg, sysu))
    with pytest.raises(ImageReadError, match=os.path.basename(broken)):
        list(iterator)
    close_loader_iterator(iterator)  # the failed iterator's worker, now, not at a later garbage collection
