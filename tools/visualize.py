#!/usr/bin/env python
"""Figures from a trained model or a finished run (PNG, headless, CPU is enough).

    tools/visualize.py tsne      --config-file CFG --output tsne.png      MODEL.WEIGHTS out/model_final.pth
    tools/visualize.py partmaps  --config-file CFG --output maps.png      MODEL.WEIGHTS out/model_final.pth
    tools/visualize.py retrieval --config-file CFG --output ranks.png     MODEL.WEIGHTS out/model_final.pth
    tools/visualize.py curves    --run-dir out/ --output curves.png

tsne:      t-SNE of the part descriptors p^m of a few test identities, coloured by part index.
partmaps:  part maps over the input images, for a visible and an infrared image per identity;
           where the test set has ground-truth part masks (SynthVI), each map is titled with
           the body part it matches on the whole test set and its purity (see
           partreid/evaluation/part_discovery.py).
retrieval: top-k gallery lists of cross-modality queries (query modality -> the other one,
           every test image of that modality as gallery), green/red for right/wrong identity.
curves:    losses, learning rate and evaluation metrics from OUTPUT_DIR/metrics.json.
Trailing KEY VALUE pairs override the config, as in tools/train_net.py. Without --config-file,
the model's config is the config.yaml of the run folder that holds MODEL.WEIGHTS.
"""
import argparse
import logging
import os
from collections import defaultdict

import numpy as np
import torch
from torch.utils.data import DataLoader

from partreid.checkpoint import ReidCheckpointer
from partreid.data import INFRARED, VISIBLE, ReidImageDataset, build_dataset, collate_batch
from partreid.engine.defaults import num_classes_in_checkpoint
from partreid.evaluation.part_discovery import PART_DISCOVERY_GROUP, evaluate_part_discovery, matched_parts
from partreid.export import setup_cfg_for_weights
from partreid.modeling.meta_arch.build import build_model
from partreid.utils import visualization as vis
from partreid.utils.cli import run_tool
from partreid.utils.errors import ConfigError
from partreid.utils.events import read_metrics
from partreid.utils.logger import setup_logger

logger = logging.getLogger("partreid.visualize")
MODALITIES = {"visible": VISIBLE, "infrared": INFRARED}


def load(args):
    """(cfg, model in eval mode with MODEL.WEIGHTS loaded, test dataset). The config is the run
    folder's config.yaml beside MODEL.WEIGHTS unless --config-file names another. Without
    MODEL.NUM_CLASSES the class count is the checkpoint's, so the training set need not be on
    this machine."""
    cfg = setup_cfg_for_weights(args.config_file, args.opts)
    if not cfg.MODEL.WEIGHTS:
        raise ConfigError(f"{args.command} needs MODEL.WEIGHTS (a checkpoint .pth) in the config or the overrides")
    if not os.path.isfile(cfg.MODEL.WEIGHTS):
        raise FileNotFoundError(f"MODEL.WEIGHTS={cfg.MODEL.WEIGHTS!r} does not exist")
    if cfg.MODEL.NUM_CLASSES == 0:
        cfg.MODEL.NUM_CLASSES = num_classes_in_checkpoint(cfg.MODEL.WEIGHTS)
    cfg.freeze()
    dataset = build_dataset(cfg, cfg.DATASETS.TEST)
    model = build_model(cfg)
    if not hasattr(model, "extract"):
        raise TypeError(f"MODEL.META_ARCHITECTURE={cfg.MODEL.META_ARCHITECTURE} has no extract(images) method")
    ReidCheckpointer(model).load(cfg.MODEL.WEIGHTS, checkpointables=[])
    model.eval()
    return cfg, model, dataset


def images_of(cfg, items, indices) -> np.ndarray:
    """uint8 (N,3,H,W) test-size images of `items[indices]`."""
    reader = ReidImageDataset(items, cfg.INPUT.SIZE_TEST, decoder=cfg.INPUT.DECODER)
    return np.stack([reader[i]["image"].numpy() for i in indices])


def extract(cfg, model, items, indices) -> dict:
    """model.extract outputs of `items[indices]`, concatenated on the CPU."""
    reader = ReidImageDataset([items[i] for i in indices], cfg.INPUT.SIZE_TEST, decoder=cfg.INPUT.DECODER)
    loader = DataLoader(reader, batch_size=int(cfg.TEST.IMS_PER_BATCH), collate_fn=collate_batch)
    parts = defaultdict(list)
    for batch in loader:
        for key, value in model.extract(batch["images"]).items():
            if value is not None:
                parts[key].append(value.float().cpu())
    return {key: torch.cat(values) for key, values in parts.items()}


def by_identity(items, modality=None):
    """pid -> test indices (in dataset order), optionally of one modality only."""
    groups = defaultdict(list)
    for i, item in enumerate(items):
        if modality is None or item.modality == modality:
            groups[item.pid].append(i)
    return groups


def cross_modality_ids(items):
    """Test pids that have images of both modalities, sorted."""
    visible, infrared = by_identity(items, VISIBLE), by_identity(items, INFRARED)
    pids = sorted(set(visible) & set(infrared))
    if not pids:
        raise ValueError("The test set has no identity with both visible and infrared images")
    return pids, visible, infrared


def cmd_tsne(args):
    cfg, model, dataset = load(args)
    items = dataset.test
    pids, visible, infrared = cross_modality_ids(items)
    chosen = []
    for pid in pids[: args.num_ids]:
        chosen += visible[pid][: args.images_per_id] + infrared[pid][: args.images_per_id]
    parts = extract(cfg, model, items, chosen)["part_descriptors"]  # (N, M, C)
    n, m, _ = parts.shape
    points = torch.nn.functional.normalize(parts.reshape(n * m, -1), dim=1).numpy()
    logger.info("t-SNE of %d part descriptors (%d images x %d parts)", n * m, n, m)
    embedding = vis.tsne(points, perplexity=args.perplexity, seed=args.seed)
    vis.save_part_tsne(
        embedding,
        part_index=np.tile(np.arange(m), n),
        identities=np.repeat([items[i].pid for i in chosen], m),
        modalities=np.repeat([items[i].modality for i in chosen], m),
        path=args.output,
        title=f"Part descriptors of {min(len(pids), args.num_ids)} test identities ({cfg.DATASETS.TEST})",
    )


def cmd_partmaps(args):
    cfg, model, dataset = load(args)
    items = dataset.test
    pids, visible, infrared = cross_modality_ids(items)
    chosen = [index for pid in pids[: args.num_ids] for index in (visible[pid][0], infrared[pid][0])]
    maps = extract(cfg, model, items, chosen).get("part_maps")
    if maps is None:
        raise ValueError(f"MODEL.PART_HEAD.NAME={cfg.MODEL.PART_HEAD.NAME} returns no part maps to draw")
    labels = [f"id {items[i].pid} {vis.MODALITY_NAMES[items[i].modality]}\ncam {items[i].camid}" for i in chosen]
    discovery = evaluate_part_discovery(cfg, model, dataset).get(PART_DISCOVERY_GROUP)
    titles = None if discovery is None else [f"{part} {purity:.2f}" for part, purity in matched_parts(discovery)]
    vis.save_part_map_overlays(images_of(cfg, items, chosen), maps.numpy(), labels, args.output, part_titles=titles)


def cmd_retrieval(args):
    cfg, model, dataset = load(args)
    items = dataset.test
    query_modality = MODALITIES[args.query_modality]
    pids, visible, infrared = cross_modality_ids(items)
    query_groups = infrared if query_modality == INFRARED else visible
    queries = [query_groups[pid][0] for pid in pids[: args.num_queries]]
    gallery = [i for i, item in enumerate(items) if item.modality != query_modality]
    if len(gallery) < args.topk:
        raise ValueError(f"--topk {args.topk} is larger than the gallery ({len(gallery)} images)")
    q = torch.nn.functional.normalize(extract(cfg, model, items, queries)["features"], dim=1)
    g = torch.nn.functional.normalize(extract(cfg, model, items, gallery)["features"], dim=1)
    # cosine distance; ties go to the lower gallery index (stable sort), as in evaluation
    order = torch.argsort(1.0 - q @ g.t(), dim=1, stable=True)[:, : args.topk].numpy()
    ranked = [[gallery[j] for j in row] for row in order]
    correct = np.array([[items[g_i].pid == items[q_i].pid for g_i in row] for q_i, row in zip(queries, ranked)])
    gallery_images = np.stack([images_of(cfg, items, row) for row in ranked])
    vis.save_retrieval_grid(
        images_of(cfg, items, queries),
        gallery_images,
        correct,
        [f"query id {items[i].pid}" for i in queries],
        [[f"#{r + 1} id {items[i].pid}" for r, i in enumerate(row)] for row in ranked],
        args.output,
    )
    logger.info("Rank-1 of the drawn queries: %d/%d", int(correct[:, 0].sum()), len(queries))


def cmd_curves(args):
    path = args.run_dir if args.run_dir.endswith(".json") else os.path.join(args.run_dir, "metrics.json")
    vis.save_training_curves(read_metrics(path), args.output)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    def model_command(name, help_text):
        p = sub.add_parser(name, help=help_text)
        p.add_argument("--config-file", default="", metavar="FILE",
                       help="YAML config of the model (default: config.yaml of the run folder holding MODEL.WEIGHTS)")
        p.add_argument("--output", required=True, metavar="PNG", help="where to write the figure")
        p.add_argument("opts", nargs=argparse.REMAINDER, help="config overrides as KEY VALUE pairs")
        return p

    p = model_command("tsne", "t-SNE of part descriptors coloured by part index")
    p.add_argument("--num-ids", type=int, default=8, help="test identities to embed")
    p.add_argument("--images-per-id", type=int, default=4, help="images per identity and modality")
    p.add_argument("--perplexity", type=float, default=30.0)
    p.add_argument("--seed", type=int, default=0)
    p = model_command("partmaps", "part maps over visible and infrared images")
    p.add_argument("--num-ids", type=int, default=3, help="identities (one visible + one infrared image each)")
    p = model_command("retrieval", "ranked cross-modality retrieval lists")
    p.add_argument("--query-modality", choices=sorted(MODALITIES), default="infrared")
    p.add_argument("--num-queries", type=int, default=6)
    p.add_argument("--topk", type=int, default=10)
    p = sub.add_parser("curves", help="training curves from metrics.json")
    p.add_argument("--run-dir", required=True, help="OUTPUT_DIR of a run (or its metrics.json)")
    p.add_argument("--output", required=True, metavar="PNG")
    return parser


COMMANDS = {"tsne": cmd_tsne, "partmaps": cmd_partmaps, "retrieval": cmd_retrieval, "curves": cmd_curves}


def main(argv=None):
    args = build_parser().parse_args(argv)
    setup_logger(color=False)
    with torch.no_grad():
        COMMANDS[args.command](args)
    logger.info("Wrote %s", args.output)
    return args.output


if __name__ == "__main__":
    run_tool(main)
