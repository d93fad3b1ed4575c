#!/usr/bin/env python
"""The measurements behind the PartDiscovery README (projects/PartDiscovery/README.md), on images that have
ground-truth part masks (SynthVI): the config's test images, or its training images for `pulls`:

    # the best purity a map can reach at each feature resolution (the map = the part's own
    # area fraction per cell), per body part, and what its fixed template (its mean over the
    # images) reaches: the room that adapting the maps to each image leaves
    python projects/PartDiscovery/benchmarks/part_discovery_probe.py ceiling --config-file CFG [KEY VALUE ...]
    # do the backbone's features know which body part each cell holds? A linear probe, trained on
    # half of the images and scored on the other half (of a checkpoint, or of random weights)
    python projects/PartDiscovery/benchmarks/part_discovery_probe.py probe --config-file CFG --weights RUN/model_final.pth
    python projects/PartDiscovery/benchmarks/part_discovery_probe.py probe --config-file CFG --random-init
    # what horizontal bands score (PCB's stripes), as they are and cut to the ground-truth person
    # (what a perfect figure-ground split would add)
    python projects/PartDiscovery/benchmarks/part_discovery_probe.py bands --config-file CFG --sizes 16x8 --num-parts 4,6
    # where each body part lies over the rows (its centroid and spread), and what the config's row
    # prior (MODEL.PART_HEAD.ROW_PRIOR_*) scores on its own: the part head's maps before the
    # features tell it anything (detector weights zero), as they are and cut to the person
    python projects/PartDiscovery/benchmarks/part_discovery_probe.py prior --config-file CFG --sizes 16x8
    # could the features, or do the maps, tell the person from the background? How well two
    # per-cell scores rank background cells above person cells (AUC; 0.5 = not at all)
    python projects/PartDiscovery/benchmarks/part_discovery_probe.py figure --config-file CFG --weights RUN/model_final.pth
    # which training loss terms pull each map toward the person, and which toward the background?
    # Per term, the descent direction on the map over the cells it covers, on training images
    python projects/PartDiscovery/benchmarks/part_discovery_probe.py pulls --config-file CFG --weights RUN/model_final.pth
"""
import argparse
import collections
import random

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader

from partreid.config import setup_cfg
from partreid.data import build_dataset
from partreid.data.common import ReidImageDataset, collate_batch
from partreid.engine.defaults import num_classes_in_checkpoint
from partreid.evaluation.part_discovery import (
    ground_truth_part_masks,
    matched_parts,
    part_discovery_metrics,
    part_fractions,
)
from partreid.modeling.meta_arch.build import build_model
from partreid.modeling.part_heads.build import build_part_head
from partreid.checkpoint import ReidCheckpointer


def test_masks(dataset) -> torch.Tensor:
    if not getattr(dataset, "part_names", ()):
        raise SystemExit(f"{type(dataset).__name__} has no ground-truth part masks (use a SynthVI config)")
    return ground_truth_part_masks(dataset).long()


def ceiling(cfg, dataset, sizes):
    masks, names = test_masks(dataset), list(dataset.part_names)
    print(f"{len(masks)} test images; purity of a map equal to the part's area fraction per cell, image by image,"
          " and of its template (its mean over the images, the same map for every image)")
    print("| map size | maps | " + " | ".join(names[1:]) + " |\n|---|---|" + "---|" * (len(names) - 1))
    for h, w in sizes:
        frac = part_fractions(masks, len(names), (h, w))
        template = frac.mean(dim=0)
        shares = [(frac[:, p] ** 2).sum() / frac[:, p].sum() for p in range(1, len(names))]
        template_shares = [(template[p] ** 2).sum() / template[p].sum() for p in range(1, len(names))]
        print(f"| {h}x{w} | per image | " + " | ".join(f"{s:.2f}" for s in shares) + " |")
        print(f"| {h}x{w} | template | " + " | ".join(f"{s:.2f}" for s in template_shares) + " |")


def person_share(masks, names, size_hw) -> torch.Tensor:
    """(N, 1, h, w): the share of each cell that the ground-truth person covers."""
    return 1.0 - part_fractions(masks, len(names), size_hw)[:, :1]


def scored(maps, masks, names) -> str:
    """'alive | coverage | mean purity | matched part (purity), ...' of maps, as table cells."""
    metrics = part_discovery_metrics(maps, masks, names)
    matched = ", ".join(f"{part} ({purity:.2f})" for part, purity in matched_parts(metrics))
    return f"{metrics['maps_alive']:.0f} | {metrics['coverage']:.0f} | {metrics['mean_purity']:.2f} | {matched}"


def bands(dataset, sizes, counts):
    masks, names = test_masks(dataset), list(dataset.part_names)
    print(f"{len(masks)} test images; M equal horizontal bands, as they are and times the person's share of each cell")
    print("| map size | M | maps | alive | coverage | mean purity | matched part (purity), top to bottom |")
    print("|---|---|---|---|---|---|---|")
    for h, w in sizes:
        person = person_share(masks, names, (h, w))
        for m in counts:
            if m > h:
                raise SystemExit(f"--num-parts {m}: more bands than the {h} rows of a {h}x{w} map")
            stripes = torch.zeros(len(masks), m, h, w)
            for k in range(m):
                stripes[:, k, k * h // m: (k + 1) * h // m] = 1.0
            for label, maps in (("bands", stripes), ("bands x person", stripes * person)):
                print(f"| {h}x{w} | {m} | {label} | {scored(maps, masks, names)} |")


def prior(cfg, dataset, sizes):
    masks, names = test_masks(dataset), list(dataset.part_names)
    head_cfg = cfg.MODEL.PART_HEAD
    if head_cfg.NAME != "PartDiscoveryHead":
        raise SystemExit("prior: the config's part head has no row prior (MODEL.PART_HEAD.NAME PartDiscoveryHead)")
    head = build_part_head(cfg, 1)
    torch.nn.init.zeros_(head.detector.weight)  # the maps the prior and the (zero) biases make alone
    centres = [round(c, 4) for c in head.row_centres.tolist()]
    widths = [round(w, 4) for w in head.row_log_widths.exp().tolist()]
    print(f"{len(masks)} test images; the part head's row prior: centres {centres}, widths {widths}")
    for h, w in sizes:
        frac = part_fractions(masks, len(names), (h, w)).double()
        rows = (torch.arange(h, dtype=torch.float64) + 0.5) / h
        print(f"\n{h}x{w}: each body part's rows (fractions of the height, over its ground-truth mass)")
        print("| part | centroid | spread (std) |\n|---|---|---|")
        for p in range(1, len(names)):
            weights = frac[:, p].sum(dim=(0, 2))
            weights = weights / weights.sum()
            centroid = (weights * rows).sum()
            spread = (weights * (rows - centroid) ** 2).sum().sqrt()
            print(f"| {names[p]} | {centroid:.3f} | {spread:.3f} |")
        with torch.no_grad():
            maps = head(torch.zeros(1, 1, h, w))["part_maps"].expand(len(masks), -1, -1, -1)
        person = person_share(masks, names, (h, w))
        print("\n| maps | alive | coverage | mean purity | matched part (purity), top to bottom |\n|---|---|---|---|---|")
        for label, candidate in (("prior", maps), ("prior x person", maps * person)):
            print(f"| {label} | {scored(candidate, masks, names)} |")


def load_model(cfg, weights, random_init=False, seed=0, num_classes=2):
    cfg.MODEL.NUM_CLASSES = num_classes if random_init else num_classes_in_checkpoint(weights)
    torch.manual_seed(seed)
    model = build_model(cfg).eval()
    if not random_init:
        ReidCheckpointer(model).load(weights, checkpointables=[])
    return model


def background_auc(score: torch.Tensor, background: torch.Tensor) -> float:
    """P(score of a background cell > score of a person cell), from the ranks (Mann-Whitney U)."""
    score, background = score.flatten().double(), background.flatten()
    ranks = torch.empty_like(score)
    ranks[score.argsort()] = torch.arange(1, len(score) + 1, dtype=torch.float64)
    n_bg, n_person = int(background.sum()), int((~background).sum())
    if not n_bg or not n_person:
        raise SystemExit("figure: the test images need both background and person cells")
    return float((ranks[background].sum() - n_bg * (n_bg + 1) / 2) / (n_bg * n_person))


def figure(cfg, dataset, weights, random_init):
    masks, names = test_masks(dataset), list(dataset.part_names)
    model = load_model(cfg, weights, random_init)
    images = ReidImageDataset(dataset.test, cfg.INPUT.SIZE_TEST, decoder=cfg.INPUT.DECODER)
    with torch.no_grad():
        features, maps = [], []
        for batch in DataLoader(images, batch_size=64, collate_fn=collate_batch):
            feats = model.backbone(model.preprocess(batch["images"]))
            features.append(feats)
            maps.append(model.part_head(feats)["part_maps"])
        features = torch.cat(features)
        maps = None if maps[0] is None else torch.cat(maps)  # heads without maps (Stripes) give None
    background = person_share(masks, names, features.shape[2:])[:, 0] < 0.5  # (N, h, w) cells mostly background
    print(f"{'random weights' if random_init else weights}: {len(masks)} test images, {features.shape[2]}x"
          f"{features.shape[3]} cells, {background.float().mean().item():.2f} of them mostly background")
    print("| per-cell score | AUC: background cells above person cells |\n|---|---|")
    print(f"| feature norm (L2 over the channels) | {background_auc(features.norm(dim=1), background):.3f} |")
    if maps is not None:
        print(f"| the maps' background share (1 - sum of the part maps) | "
              f"{background_auc(1 - maps.sum(dim=1), background):.3f} |")
    print("(0.5: the score does not tell them apart; 1: every background cell above every person cell; "
          "0: the reverse)")


def map_pulls(maps: torch.Tensor, terms: dict, person: torch.Tensor, covered: float = 0.1) -> dict:
    """{term: (M,) pull}: for each loss term and map m, the mean of -dterm/dA_m (the direction
    gradient descent moves the map) over the person cells the map covers (A_m > `covered`) minus
    its mean over the background cells it covers. > 0: the term pulls the map onto the person;
    NaN where the map covers no cell of one kind. `maps` (N, M, h, w) must be in the terms' graph;
    `person` is a (N, h, w) bool."""
    covers = maps.detach() > covered
    pulls = {}
    for name, value in terms.items():
        gradient, = torch.autograd.grad(value, maps, retain_graph=True, allow_unused=True)
        descent = torch.zeros_like(maps) if gradient is None else -gradient.detach()
        pull = torch.full((maps.shape[1],), float("nan"), dtype=torch.float64)
        for m in range(maps.shape[1]):
            on_person, on_background = covers[:, m] & person, covers[:, m] & ~person
            if on_person.any() and on_background.any():
                pull[m] = (descent[:, m][on_person].mean() - descent[:, m][on_background].mean()).double()
        pulls[name] = pull
    return pulls


def training_batches(dataset, count, identities, per_modality, seed=0):
    """`count` batches of training items: `identities` ids x `per_modality` visible + as many
    infrared images each (the cross-modality sampler's composition), unaugmented so that the
    ground-truth masks stay aligned with the images."""
    by_id = collections.defaultdict(lambda: ([], []))
    for item in dataset.train:
        by_id[item.pid][item.modality].append(item)
    eligible = sorted(pid for pid, (vis, ir) in by_id.items() if min(len(vis), len(ir)) >= per_modality)
    if len(eligible) < identities:
        raise SystemExit(f"pulls: {len(eligible)} training ids have {per_modality} images of each modality; "
                         f"a batch needs {identities}")
    rng = random.Random(seed)
    for _ in range(count):
        yield [item for pid in rng.sample(eligible, identities) for images in by_id[pid]
               for item in rng.sample(images, per_modality)]


def pulls(cfg, dataset, weights, random_init, num_batches):
    names = list(dataset.part_names)
    if not names:
        raise SystemExit(f"{type(dataset).__name__} has no ground-truth part masks (use a SynthVI config)")
    model = load_model(cfg, weights, random_init, num_classes=dataset.num_train_pids).train()
    per_modality = max(cfg.DATALOADER.NUM_INSTANCES // 2, 1)
    total = collections.defaultdict(lambda: torch.zeros(model.num_parts, dtype=torch.float64))
    for items in training_batches(dataset, num_batches, cfg.DATALOADER.NUM_IDENTITIES, per_modality):
        images = ReidImageDataset(items, cfg.INPUT.SIZE_TRAIN, decoder=cfg.INPUT.DECODER)
        batch = collate_batch([images[i] for i in range(len(items))])
        batch["epoch"] = 0  # before any mixer starts: the baseline's terms
        masks = torch.stack([torch.from_numpy(dataset.part_mask(item)).long() for item in items])
        outputs = model.training_outputs(model.preprocess(batch["images"]), batch)
        if outputs["part_maps"] is None:
            raise SystemExit(f"pulls: {type(model.part_head).__name__} has no part maps")
        person = person_share(masks, names, outputs["part_maps"].shape[2:])[:, 0] >= 0.5
        terms = model.losses_from(outputs, batch)
        terms["total"] = sum(terms.values())
        for name, pull in map_pulls(outputs["part_maps"], terms, person).items():
            total[name] += pull / num_batches
    print(f"{'random weights' if random_init else weights}: {num_batches} training batches of "
          f"{cfg.DATALOADER.NUM_IDENTITIES} ids x {per_modality} visible + {per_modality} infrared images, unaugmented")
    print("Pull of each loss term on each map, x 1e-4: the descent direction on the map, mean over the person "
          "cells it covers minus mean over the background cells it covers (> 0: onto the person)")
    print("| term | " + " | ".join(f"map {m + 1}" for m in range(model.num_parts)) + " |\n|---|" + "---|" * model.num_parts)
    for name, pull in total.items():
        print(f"| {name} | " + " | ".join(f"{1e4 * v:+.2f}" for v in pull.tolist()) + " |")


def probe(cfg, dataset, weights, random_init, seed=0):
    masks, names = test_masks(dataset), list(dataset.part_names)
    model = load_model(cfg, weights, random_init, seed)
    images = ReidImageDataset(dataset.test, cfg.INPUT.SIZE_TEST, decoder=cfg.INPUT.DECODER)
    with torch.no_grad():
        feats = torch.cat([model.backbone(model.preprocess(b["images"]))
                           for b in DataLoader(images, batch_size=64, collate_fn=collate_batch)])
    labels = part_fractions(masks, len(names), feats.shape[2:]).argmax(1)  # majority part per cell
    order = torch.randperm(len(feats), generator=torch.Generator().manual_seed(seed))
    train, test = order[: len(order) // 2], order[len(order) // 2:]

    def cells(t, idx):
        return t[idx].permute(0, 2, 3, 1).reshape(-1, t.shape[1]) if t.dim() == 4 else t[idx].reshape(-1)

    x_train, x_test, y_train, y_test = cells(feats, train), cells(feats, test), cells(labels, train), cells(labels, test)
    mean, std = x_train.mean(0), x_train.std(0) + 1e-6
    x_train, x_test = (x_train - mean) / std, (x_test - mean) / std
    linear = torch.nn.Linear(x_train.shape[1], len(names))
    optimizer = torch.optim.Adam(linear.parameters(), lr=0.01)
    for _ in range(300):
        optimizer.zero_grad()
        (F.cross_entropy(linear(x_train), y_train) + 1e-4 * linear.weight.pow(2).sum()).backward()
        optimizer.step()
    predicted = linear(x_test).argmax(1)
    majority = (y_test == y_test.mode().values).float().mean().item()
    print(f"{'random weights' if random_init else weights}: {len(feats)} images, features {tuple(feats.shape[1:])}")
    print(f"probe accuracy {(predicted == y_test).float().mean().item():.3f} (always the majority part: {majority:.3f})")
    for p, name in enumerate(names):
        chosen = y_test == p
        if chosen.any():
            print(f"  {name}: {int(chosen.sum())} cells, recall {(predicted[chosen] == p).float().mean().item():.2f}")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("mode", choices=["ceiling", "probe", "bands", "prior", "figure", "pulls"])
    parser.add_argument("--config-file", required=True)
    parser.add_argument("--weights", default="", help="probe, figure, pulls: a checkpoint (its config's model)")
    parser.add_argument("--random-init", action="store_true", help="probe, figure, pulls: random weights instead")
    parser.add_argument("--batches", type=int, default=6, help="pulls: training batches to average over")
    parser.add_argument("--sizes", default="8x4,16x8", help="ceiling, bands, prior: feature map sizes HxW")
    parser.add_argument("--num-parts", default="4,6", help="bands: numbers of bands M")
    parser.add_argument("opts", nargs="*", help="KEY VALUE config overrides")
    args = parser.parse_intermixed_args()
    cfg = setup_cfg(args.config_file, args.opts, freeze=False)
    dataset = build_dataset(cfg, cfg.DATASETS.TRAIN if args.mode == "pulls" else cfg.DATASETS.TEST)
    sizes = [tuple(int(v) for v in size.split("x")) for size in args.sizes.split(",")]
    if args.mode == "ceiling":
        ceiling(cfg, dataset, sizes)
    elif args.mode == "prior":
        prior(cfg, dataset, sizes)
    elif args.mode == "bands":
        bands(dataset, sizes, [int(m) for m in args.num_parts.split(",")])
    elif bool(args.weights) == args.random_init:
        parser.error(f"{args.mode} needs exactly one of --weights and --random-init")
    elif args.mode == "figure":
        figure(cfg, dataset, args.weights, args.random_init)
    elif args.mode == "pulls":
        pulls(cfg, dataset, args.weights, args.random_init, args.batches)
    else:
        probe(cfg, dataset, args.weights, args.random_init)


if __name__ == "__main__":
    main()
