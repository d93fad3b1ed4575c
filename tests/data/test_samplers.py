import itertools
import logging

import pytest

from partreid.data import INFRARED, SAMPLER_REGISTRY, VISIBLE, ReidItem, build_sampler
from partreid.data.samplers import CrossModalitySampler, IdentitySampler


def make_items(images_per_modality, pids=range(6)):
    """`images_per_modality`: {pid: (visible count, infrared count)} overriding 3/2 per identity."""
    items = []
    for pid in pids:
        n_vis, n_ir = images_per_modality.get(pid, (3, 2))
        items += [ReidItem(f"v{pid}_{i}.jpg", pid, 1, VISIBLE) for i in range(n_vis)]
        items += [ReidItem(f"r{pid}_{i}.jpg", pid, 3, INFRARED) for i in range(n_ir)]
    return items


def take(sampler, count):
    return list(itertools.islice(iter(sampler), count))


def test_both_samplers_registered():
    assert {"CrossModalitySampler", "IdentitySampler"} <= {name for name, _ in SAMPLER_REGISTRY}


def test_cross_modality_batch_composition():
    items = make_items({0: (1, 1), 1: (5, 1)})  # identities 0 and 1 need replacement
    sampler = CrossModalitySampler(items, num_identities=3, num_instances=4, iters_per_epoch=5, seed=0)
    for batch in take(sampler, 20):
        assert len(batch) == 12
        indices = [key.index for key in batch]
        pids = [items[i].pid for i in indices]
        for p in range(3):
            group = indices[4 * p : 4 * p + 4]
            assert len({items[i].pid for i in group}) == 1
            assert [items[i].modality for i in group] == [VISIBLE, VISIBLE, INFRARED, INFRARED]
        assert len(set(pids)) == 3
        for p in range(3):  # without replacement where an identity has enough images
            group = indices[4 * p : 4 * p + 4]
            if items[group[0]].pid >= 2:
                assert len(set(group[:2])) == 2


def test_cross_modality_skips_identities_missing_a_modality(caplog):
    items = make_items({1: (3, 0), 4: (0, 2)})
    with caplog.at_level(logging.WARNING):
        sampler = CrossModalitySampler(items, num_identities=2, num_instances=2, iters_per_epoch=3, seed=0)
    # named by an image of each (the pids are relabelled ones, which name nothing on disk)
    assert "skips 2 training identities" in caplog.text
    assert "v1_0.jpg (visible only); r4_0.jpg (infrared only)" in caplog.text
    drawn = {items[k.index].pid for batch in take(sampler, 30) for k in batch}
    assert drawn == {0, 2, 3, 5}


def test_cross_modality_errors():
    with pytest.raises(ValueError, match="no training identity has both visible and infrared"):
        CrossModalitySampler(make_items({p: (2, 0) for p in range(6)}), 2, 2, 1, 0)
    with pytest.raises(ValueError, match="DATALOADER.NUM_INSTANCES must be even"):
        CrossModalitySampler(make_items({}), 2, 3, 1, 0)
    with pytest.raises(ValueError, match="NUM_IDENTITIES=7 usable identities, the training set has 6"):
        CrossModalitySampler(make_items({}), 7, 2, 1, 0)
    with pytest.raises(ValueError, match=r"NUM_IDENTITIES \(3\) must be divisible by the number of processes \(2\)"):
        CrossModalitySampler(make_items({}), 3, 2, 1, 0, rank=0, world_size=2)
    with pytest.raises(ValueError, match="SEED must be resolved"):
        CrossModalitySampler(make_items({}), 2, 2, 1, -1)


@pytest.mark.parametrize("cls", [CrossModalitySampler, IdentitySampler])
def test_seeded_determinism(cls):
    items = make_items({})
    a = take(cls(items, 2, 4, 3, seed=1), 7)
    b = take(cls(items, 2, 4, 3, seed=1), 7)
    c = take(cls(items, 2, 4, 3, seed=2), 7)
    assert a == b and a != c
    assert len({key.seed for batch in a for key in batch}) == 7 * 8  # one augmentation seed per sample


@pytest.mark.parametrize("cls", [CrossModalitySampler, IdentitySampler])
def test_epochs_are_pure_and_resume_continues_the_stream(cls):
    items = make_items({})
    per_epoch = 4
    stream = take(cls(items, 2, 4, per_epoch, seed=3), 3 * per_epoch)
    for start in (0, 1, 5, 8, 11):
        resumed = take(cls(items, 2, 4, per_epoch, seed=3, start_iter=start), 3 * per_epoch - start)
        assert resumed == stream[start:]
    sampler = cls(items, 2, 4, per_epoch, seed=3)
    for epoch in range(3):
        assert sampler.epoch_batches(epoch) == [
            [k.index for k in batch] for batch in stream[epoch * per_epoch : (epoch + 1) * per_epoch]
        ]
    assert sampler.epoch_batches(0) != sampler.epoch_batches(1)


@pytest.mark.parametrize("cls", [CrossModalitySampler, IdentitySampler])
@pytest.mark.parametrize("world_size", [2, 4])
def test_ddp_shards_are_disjoint_and_union_is_the_single_process_batch(cls, world_size):
    items = make_items({}, pids=range(10))
    single = take(cls(items, 4, 4, 5, seed=0, start_iter=2), 6)
    shards = [take(cls(items, 4, 4, 5, seed=0, start_iter=2, rank=r, world_size=world_size), 6)
              for r in range(world_size)]
    for step, batch in enumerate(single):
        parts = [shards[r][step] for r in range(world_size)]
        assert all(len(part) == 16 // world_size for part in parts)
        assert sum(parts, []) == batch  # disjoint positions, same samples and augmentation seeds
        pids_per_rank = [{items[k.index].pid for k in part} for part in parts]
        assert all(len(p) == 4 // world_size for p in pids_per_rank)  # whole identities per rank
        assert set().union(*pids_per_rank) == {items[k.index].pid for k in batch}
        assert sum(len(p) for p in pids_per_rank) == 4


def test_identity_sampler_ignores_modality():
    items = make_items({0: (1, 0), 1: (0, 1), 2: (0, 0)}, pids=range(4))
    sampler = IdentitySampler(items, num_identities=3, num_instances=3, iters_per_epoch=2, seed=0)
    for batch in take(sampler, 10):
        pids = [items[k.index].pid for k in batch]
        assert [len(set(pids[i : i + 3])) for i in (0, 3, 6)] == [1, 1, 1]
        assert len(set(pids)) == 3
    assert {0, 1} <= {items[k.index].pid for batch in take(sampler, 30) for k in batch}


def test_build_sampler_from_config(cfg):
    cfg.DATALOADER.SAMPLER = "IdentitySampler"
    sampler = build_sampler(cfg, make_items({}), iters_per_epoch=2, start_iter=3)
    assert isinstance(sampler, IdentitySampler) and sampler.batch_size == 8 and sampler.start_iter == 3
    cfg.DATALOADER.SAMPLER = "Nope"
    with pytest.raises(KeyError, match="DATALOADER.SAMPLER"):
        build_sampler(cfg, make_items({}), 2)
