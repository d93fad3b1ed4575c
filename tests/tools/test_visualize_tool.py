"""tools/visualize.py: every subcommand writes a valid PNG of the documented size from a tiny
model checkpoint and a tiny generated SynthVI, on the CPU."""
import importlib.util
import json
import os
import struct

import numpy as np
import pytest

from partreid.checkpoint import ReidCheckpointer
from partreid.config import setup_cfg
from partreid.data import build_dataset
from partreid.data.synthvi import PART_NAMES
from partreid.modeling.meta_arch.build import build_model
from partreid.utils import visualization as vis

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "configs", "synthvi_baseline.yaml")


def load_tool():
    spec = importlib.util.spec_from_file_location("visualize_tool", os.path.join(REPO, "tools", "visualize.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def png_size(path):
    with open(path, "rb") as f:
        header = f.read(24)
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    """(override list, output dir) for a tiny random-weight model saved as model_final.pth."""
    root = tmp_path_factory.mktemp("vis")
    opts = [str(x) for x in [
        "DATASETS.ROOT", root / "data", "DATASETS.SYNTHVI.NUM_TRAIN_IDS", 4, "DATASETS.SYNTHVI.NUM_TEST_IDS", 3,
        "DATASETS.SYNTHVI.IMAGES_PER_CAMERA", 2, "DATASETS.SYNTHVI.IMAGE_SIZE", "[64,32]",
        "INPUT.SIZE_TEST", "[64,32]", "MODEL.BACKBONE.DEPTH", 18, "MODEL.PART_HEAD.NUM_PARTS", 3,
        "DATALOADER.NUM_WORKERS", 0, "TEST.IMS_PER_BATCH", 16,
    ]]
    cfg = setup_cfg(CONFIG, opts, freeze=False)
    cfg.MODEL.NUM_CLASSES = build_dataset(cfg, cfg.DATASETS.TRAIN).num_train_pids
    ReidCheckpointer(build_model(cfg), str(root / "out")).save("model_final")
    rows = [{"iteration": i, "total_loss": 5.0 - i, "loss_id": 2.0 - 0.1 * i, "lr": 0.01} for i in range(6)]
    rows += [{"iteration": 5, "eval/all_search_1shot/Rank-1": 40.0, "eval/all_search_1shot/mAP": 30.0}]
    with open(root / "out" / "metrics.json", "w") as f:
        f.write("".join(json.dumps(r) + "\n" for r in rows))
    return opts + ["MODEL.WEIGHTS", str(root / "out" / "model_final.pth")], root / "out"


def test_tsne(run, tmp_path):
    opts, _ = run
    out = str(tmp_path / "tsne.png")
    load_tool().main(["tsne", "--config-file", CONFIG, "--output", out, "--num-ids", "3", "--images-per-id", "2", *opts])
    assert png_size(out) == (900, 700)


def test_partmaps(run, tmp_path, monkeypatch):
    opts, _ = run
    out = str(tmp_path / "maps.png")
    titles = []
    draw = vis.save_part_map_overlays

    def keep_titles(*args, part_titles=None, **kwargs):
        titles.append(part_titles)
        return draw(*args, part_titles=part_titles, **kwargs)

    monkeypatch.setattr(vis, "save_part_map_overlays", keep_titles)
    load_tool().main(["partmaps", "--config-file", CONFIG, "--output", out, "--num-ids", "2", *opts])
    # 2 identities x (visible, infrared) rows; input + 3 part columns of 96 x 192 px, 30 px titles
    assert png_size(out) == (96 * 4, 192 * 4 + 30)
    # SynthVI has ground-truth parts: every map is titled with its matched part and purity
    (shown,) = titles
    assert len(shown) == 3
    for title in shown:
        part, purity = title.split()
        assert part in PART_NAMES[1:] and 0.0 <= float(purity) <= 1.0


def test_retrieval(run, tmp_path):
    opts, _ = run
    out = str(tmp_path / "ranks.png")
    load_tool().main(["retrieval", "--config-file", CONFIG, "--output", out, "--num-queries", "3", "--topk", "4", *opts])
    assert png_size(out) == (80 * 5, 176 * 3)


def test_curves(run, tmp_path):
    _, out_dir = run
    out = str(tmp_path / "curves.png")
    load_tool().main(["curves", "--run-dir", str(out_dir), "--output", out])
    assert png_size(out) == (1200, 900)


def test_model_commands_take_the_class_count_from_the_checkpoint(run, tmp_path):
    """Without MODEL.NUM_CLASSES the classifier's rows in the checkpoint give it: the training set
    (here a dataset that does not exist) is never read."""
    opts, _ = run
    cfg = setup_cfg(CONFIG, opts, freeze=False)
    cfg.MODEL.NUM_CLASSES = 7  # not the generated training set's count
    ReidCheckpointer(build_model(cfg), str(tmp_path)).save("seven_classes")
    tool = load_tool()
    args = tool.build_parser().parse_args(["tsne", "--config-file", CONFIG, "--output", str(tmp_path / "x.png"), *opts,
                                           "MODEL.WEIGHTS", str(tmp_path / "seven_classes.pth"),
                                           "DATASETS.TRAIN", "NoSuchDataset"])
    cfg, model, _ = tool.load(args)
    assert cfg.MODEL.NUM_CLASSES == 7 and model.classifier.weight.shape[0] == 7


def test_model_commands_need_weights(tmp_path):
    with pytest.raises(ValueError, match="needs MODEL.WEIGHTS"):
        load_tool().main(["tsne", "--config-file", CONFIG, "--output", str(tmp_path / "x.png")])


def test_tsne_keeps_separated_clusters_apart():
    rng = np.random.default_rng(0)
    centres = rng.normal(scale=10.0, size=(3, 16))
    labels = np.repeat(np.arange(3), 20)
    points = centres[labels] + rng.normal(size=(60, 16))
    embedding = vis.tsne(points, perplexity=10, num_iters=400)
    assert embedding.shape == (60, 2) and np.isfinite(embedding).all()
    distances = ((embedding[:, None] - embedding[None]) ** 2).sum(-1)
    np.fill_diagonal(distances, np.inf)
    assert (labels[distances.argmin(1)] == labels).mean() == 1.0  # nearest neighbour in the same cluster
    assert np.allclose(embedding, vis.tsne(points, perplexity=10, num_iters=400))  # deterministic


def test_tsne_rejects_too_few_points():
    with pytest.raises(ValueError, match="N >= 4"):
        vis.tsne(np.zeros((3, 5)))


def test_curves_keep_the_last_value_of_a_repeated_iteration():
    rows = [{"iteration": 3, "total_loss": 9.0}, {"iteration": 3, "total_loss": 1.0}, {"iteration": 4, "total_loss": 2.0}]
    assert vis._series(rows)["total_loss"] == [(3, 1.0), (4, 2.0)]
