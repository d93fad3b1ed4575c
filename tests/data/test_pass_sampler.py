"""CrossModalityPassSampler (MPANet's RandomIdentitySampler): the pass against an independent
implementation of the rule, epoch lengths, resume across passes and DDP shards."""
import itertools
import logging
import random
import statistics

import pytest

from partreid.config import get_cfg
from partreid.data import INFRARED, VISIBLE, ReidItem, build_sampler, epoch_lengths, iters_per_epoch
from partreid.data.samplers import CrossModalityPassSampler
from partreid.data.samplers.cross_modality_pass import length_estimate
from partreid.solver import EpochSchedule

# (infrared, visible) images per identity: plenty, uneven, exactly one block, fewer than K/2 in
# both modalities (drawn with replacement: one block), and fewer than K/2 in one modality only
# (no block: skipped).
COUNTS = {0: (12, 9), 1: (4, 30), 2: (8, 8), 3: (2, 3), 4: (1, 1), 5: (17, 6), 6: (3, 11), 7: (9, 0)}
COUNTS.update({pid: (4 + pid % 9, 5 + (3 * pid) % 13) for pid in range(8, 30)})


def make_items(counts):
    items = []
    for pid, (n_ir, n_vis) in counts.items():
        items += [ReidItem(f"r{pid}_{i}.jpg", pid, 3, INFRARED) for i in range(n_ir)]
        items += [ReidItem(f"v{pid}_{i}.jpg", pid, 1, VISIBLE) for i in range(n_vis)]
    return items


def reference_pass(counts, p, k, rng):
    """MPANet's rule written out literally on image names, with python's `random`: per identity
    blocks of k (k/2 infrared then visible, alternating), then p identities at a time while p have
    blocks. Returns the batches as lists of (pid, modality) and the block count of each pid."""
    half = k // 2
    blocks = {}
    for pid, (n_ir, n_vis) in counts.items():
        ir, vis = [(pid, INFRARED)] * n_ir, [(pid, VISIBLE)] * n_vis
        if not ir:
            continue  # MPANet only walks identities that have infrared images
        if len(ir) < half and len(vis) < half:
            ir, vis = [rng.choice(ir) for _ in range(half)], [rng.choice(vis) for _ in range(half)]
        if len(ir) > len(vis):
            ir = rng.sample(ir, len(vis))
        if len(vis) > len(ir):
            vis = rng.sample(vis, len(ir))
        flat = [x for pair in zip(ir, vis) for x in pair]
        blocks[pid] = [flat[i : i + k] for i in range(0, len(flat) - k + 1, k)]
    block_counts = {pid: len(b) for pid, b in blocks.items()}
    available = [pid for pid, b in blocks.items() if b]  # MPANet would fail on an empty one
    batches = []
    while len(available) >= p:
        batch = []
        for pid in rng.sample(available, p):
            batch += blocks[pid].pop(0)
            if not blocks[pid]:
                available.remove(pid)
        batches.append(batch)
    return batches, block_counts


def passes(sampler, count):
    """The first `count` passes of `sampler`'s stream, as lists of global batches."""
    out, it = [], 0
    for q in range(count):
        batches = []
        while sampler.position(it)[0] == q:
            batches.append([key.index for key in sampler.global_keys_at(it)])
            it += 1
        out.append(batches)
    return out


def test_pass_follows_the_rule_batch_by_batch(caplog):
    items = make_items(COUNTS)
    p, k = 4, 8
    _, reference_blocks = reference_pass(COUNTS, p, k, random.Random(0))
    with caplog.at_level(logging.WARNING):
        sampler = CrossModalityPassSampler(items, p, k, iters_per_epoch=1, seed=5)
    assert "skips 2 identities" in caplog.text and "[6, 7]" in caplog.text  # 3 IR vs 11 visible; no visible
    assert dict(zip(sampler.pids, sampler.block_counts.tolist())) == {
        pid: n for pid, n in reference_blocks.items() if n > 0}
    for batches in passes(sampler, 3):
        used = dict.fromkeys(sampler.pids, 0)
        seen = {pid: [] for pid in sampler.pids}
        for batch in batches:
            assert len(batch) == p * k
            pids = [items[i].pid for i in batch[::k]]
            assert len(set(pids)) == p
            for j, pid in enumerate(pids):
                block = batch[j * k : (j + 1) * k]
                assert [items[i].pid for i in block] == [pid] * k
                assert [items[i].modality for i in block] == [INFRARED, VISIBLE] * (k // 2)
                used[pid] += 1
                seen[pid] += block
        for pid in sampler.pids:
            assert used[pid] <= reference_blocks[pid]
            n_ir, n_vis = COUNTS[pid]
            if n_ir >= k // 2 or n_vis >= k // 2:  # no image twice in a pass unless drawn with replacement
                assert len(set(seen[pid])) == len(seen[pid])
        assert sum(used[pid] < reference_blocks[pid] for pid in sampler.pids) < p  # the stopping rule
        assert len(batches) * p == sum(used.values())


def test_pass_lengths_match_the_reference_distribution():
    """Mean pass length over many seeds against the literal rule's, on the same counts."""
    items = make_items(COUNTS)
    ours = CrossModalityPassSampler.epoch_lengths(_cfg(), items, 300)
    theirs = [len(reference_pass(COUNTS, 4, 8, random.Random(s))[0]) for s in range(300)]
    assert min(ours) >= 1
    spread = (statistics.stdev(ours) ** 2 / 300 + statistics.stdev(theirs) ** 2 / 300) ** 0.5
    assert abs(statistics.mean(ours) - statistics.mean(theirs)) < 4 * spread + 1e-9


def _cfg(**overrides):
    cfg = get_cfg()
    cfg.DATALOADER.SAMPLER = "CrossModalityPassSampler"
    cfg.DATALOADER.NUM_IDENTITIES, cfg.DATALOADER.NUM_INSTANCES = 4, 8
    cfg.SEED = 5
    for key, value in overrides.items():
        cfg.merge_from_list([key, value])
    return cfg


def test_epoch_lengths_are_the_passes_of_the_stream():
    items = make_items(COUNTS)
    lengths = CrossModalityPassSampler.epoch_lengths(_cfg(), items, 6)
    sampler = CrossModalityPassSampler(items, 4, 8, iters_per_epoch=1, seed=5)
    assert [len(batches) for batches in passes(sampler, 6)] == lengths
    assert len(set(lengths)) > 1  # passes differ in length


def test_resume_anywhere_continues_the_stream_across_passes():
    items = make_items(COUNTS)
    total = sum(CrossModalityPassSampler.epoch_lengths(_cfg(), items, 3))
    stream = list(itertools.islice(CrossModalityPassSampler(items, 4, 8, 1, seed=5), total))
    for start in (1, total // 3, total // 2 + 1, total - 2):
        resumed = CrossModalityPassSampler(items, 4, 8, 1, seed=5, start_iter=start)
        assert list(itertools.islice(resumed, total - start)) == stream[start:]
    other = list(itertools.islice(CrossModalityPassSampler(items, 4, 8, 1, seed=6), total))
    assert other != stream
    assert len({key.seed for batch in stream for key in batch}) == total * 32  # one augmentation seed per sample


@pytest.mark.parametrize("world_size", [2, 4])
def test_ddp_shards_hold_whole_identities_of_the_single_process_batch(world_size):
    items = make_items(COUNTS)
    single = list(itertools.islice(CrossModalityPassSampler(items, 4, 8, 1, seed=2, start_iter=3), 20))
    shards = [list(itertools.islice(CrossModalityPassSampler(items, 4, 8, 1, seed=2, start_iter=3, rank=r,
                                                             world_size=world_size), 20)) for r in range(world_size)]
    for step, batch in enumerate(single):
        parts = [shards[r][step] for r in range(world_size)]
        assert sum(parts, []) == batch
        pids_per_rank = [{items[key.index].pid for key in part} for part in parts]
        assert [len(pids) for pids in pids_per_rank] == [4 // world_size] * world_size
        assert len(set().union(*pids_per_rank)) == 4


def test_length_estimate_counts_infrared_images_as_mpanet():
    # per identity with infrared images: max(n, K) rounded down to a multiple of K, summed, // (P*K)
    assert length_estimate([12, 4, 8, 2, 1, 17, 3, 0], num_identities=2, num_instances=8) == (
        8 + 8 + 8 + 8 + 8 + 16 + 8) // 16
    cfg = _cfg(**{"DATALOADER.PASS_EPOCH": "length_estimate"})
    infrared = [n_ir for n_ir, _ in COUNTS.values()]
    assert CrossModalityPassSampler.epoch_lengths(cfg, make_items(COUNTS), 3) == [length_estimate(infrared, 4, 8)] * 3
    with pytest.raises(ValueError, match="DATALOADER.PASS_EPOCH"):
        CrossModalityPassSampler.epoch_lengths(_cfg(**{"DATALOADER.PASS_EPOCH": "ignite"}), make_items(COUNTS), 3)


class _Dataset:
    def __init__(self, train):
        self.train = train


def test_the_data_package_sizes_epochs_with_the_sampler():
    items = make_items(COUNTS)
    cfg = _cfg(**{"SOLVER.MAX_EPOCHS": 5})
    lengths = epoch_lengths(cfg, _Dataset(items))
    assert lengths == CrossModalityPassSampler.epoch_lengths(cfg, items, 5)
    assert iters_per_epoch(cfg, _Dataset(items)) == round(sum(lengths) / 5)
    schedule = EpochSchedule.from_epoch_lengths(lengths, 5)
    assert schedule.max_iter == sum(lengths) and schedule.iters(2) == lengths[0] + lengths[1]
    assert schedule.epoch_of(lengths[0] - 1) == 0 and schedule.epoch_of(lengths[0]) == 1
    cfg.DATALOADER.ITERS_PER_EPOCH = 7  # pinned: fixed-length epochs over the same stream of passes
    assert epoch_lengths(cfg, _Dataset(items)) == [7] * 5
    sampler = build_sampler(cfg, items, iters_per_epoch=7, start_iter=0)
    assert isinstance(sampler, CrossModalityPassSampler)
    cfg.DATALOADER.SAMPLER = "CrossModalitySampler"
    cfg.DATALOADER.ITERS_PER_EPOCH = 0
    assert epoch_lengths(cfg, _Dataset(items)) == [iters_per_epoch(cfg, _Dataset(items))] * 5


def test_errors_name_the_keys():
    with pytest.raises(ValueError, match="DATALOADER.NUM_INSTANCES must be even"):
        CrossModalityPassSampler(make_items(COUNTS), 4, 7, 1, seed=0)
    with pytest.raises(ValueError, match="NUM_IDENTITIES=40 usable identities"):
        CrossModalityPassSampler(make_items(COUNTS), 40, 8, 1, seed=0)
