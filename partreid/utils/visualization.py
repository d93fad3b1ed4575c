"""Figures for looking inside a model and a run: t-SNE of part descriptors, part-map overlays,
ranked retrieval lists and training curves.

Every function draws on a standalone `matplotlib.figure.Figure` (Agg canvas, no pyplot), so it
works headless, changes no global backend, and writes a PNG whose pixel size is fixed by the
arguments (documented per function): scripts and tests can rely on it.
"""
import math
import os
from collections import defaultdict
from typing import Dict, List, Optional, Sequence

import numpy as np

from .optional import missing_extra

try:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
except ImportError as e:
    raise missing_extra("matplotlib", "viz", "partreid.utils.visualization (tools/visualize.py's figures)") from e

DPI = 100
MODALITY_NAMES = {0: "visible", 1: "infrared"}


# ---------------------------------------------------------------------------------------------
# t-SNE
# ---------------------------------------------------------------------------------------------
def _affinities(sq_dist: np.ndarray, perplexity: float) -> np.ndarray:
    """Symmetric joint probabilities P of exact t-SNE: a per-point Gaussian bandwidth found by
    bisection (all points at once) so that each conditional distribution has `perplexity`."""
    n = sq_dist.shape[0]
    target = math.log(perplexity)
    beta = np.ones(n)
    low, high = np.zeros(n), np.full(n, np.inf)
    off_diagonal = ~np.eye(n, dtype=bool)
    for _ in range(64):
        logits = -sq_dist * beta[:, None]
        logits[~off_diagonal] = -np.inf
        logits -= logits.max(1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(1, keepdims=True)
        entropy = -(p * np.log(np.where(p > 0, p, 1.0))).sum(1)
        too_flat = entropy > target  # bandwidth too wide: sharpen (raise beta)
        low = np.where(too_flat, beta, low)
        high = np.where(too_flat, high, beta)
        beta = np.where(np.isinf(high), beta * 2.0, (low + high) / 2.0)
    joint = (p + p.T) / (2.0 * n)
    return np.maximum(joint, 1e-12)


def tsne(points: np.ndarray, perplexity: float = 30.0, num_iters: int = 750, seed: int = 0) -> np.ndarray:
    """Exact t-SNE (van der Maaten & Hinton 2008) of (N, D) points to (N, 2), in numpy.

    Meant for a few hundred points (O(N^2) memory and time); sklearn is not a dependency.
    Early exaggeration (x12, first 250 iterations), momentum 0.5 -> 0.8 and per-coordinate
    gains, as in the reference implementation. The perplexity is capped at (N - 1) / 3 so
    that small sets still work. Deterministic for a given `seed`.
    """
    x = np.asarray(points, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] < 4:
        raise ValueError(f"t-SNE needs an (N, D) array with N >= 4 points, got shape {x.shape}")
    n = x.shape[0]
    perplexity = min(float(perplexity), (n - 1) / 3.0)
    x = (x - x.mean(0)) / (x.std() + 1e-12)
    sq = (x * x).sum(1)
    sq_dist = np.maximum(sq[:, None] + sq[None, :] - 2.0 * x @ x.T, 0.0)
    p = _affinities(sq_dist, perplexity)

    rng = np.random.default_rng(seed)
    y = rng.normal(scale=1e-4, size=(n, 2))
    velocity = np.zeros_like(y)
    gains = np.ones_like(y)
    exaggeration_iters = min(250, num_iters // 3)
    learning_rate = max(n / 12.0 / 4.0, 50.0)
    for it in range(num_iters):
        exaggeration = 12.0 if it < exaggeration_iters else 1.0
        momentum = 0.5 if it < exaggeration_iters else 0.8
        sq_y = (y * y).sum(1)
        kernel = 1.0 / (1.0 + np.maximum(sq_y[:, None] + sq_y[None, :] - 2.0 * y @ y.T, 0.0))
        np.fill_diagonal(kernel, 0.0)
        q = np.maximum(kernel / kernel.sum(), 1e-12)
        weights = (exaggeration * p - q) * kernel
        grad = 4.0 * (np.diag(weights.sum(1)) - weights) @ y
        same_sign = np.sign(grad) == np.sign(velocity)
        gains = np.maximum(np.where(same_sign, gains * 0.8, gains + 0.2), 0.01)
        velocity = momentum * velocity - learning_rate * gains * grad
        y = y + velocity
        y -= y.mean(0)
    return y


# ---------------------------------------------------------------------------------------------
# Figures
# ---------------------------------------------------------------------------------------------
def _save(fig: Figure, path: str) -> str:
    directory = os.path.dirname(os.path.abspath(path))
    os.makedirs(directory, exist_ok=True)
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=DPI, format="png")
    return path


def _hwc(image: np.ndarray) -> np.ndarray:
    """(3,H,W) or (H,W,3) uint8 -> (H,W,3)."""
    image = np.asarray(image)
    return image.transpose(1, 2, 0) if image.ndim == 3 and image.shape[0] == 3 else image


def save_part_tsne(
    embedding: np.ndarray,
    part_index: Sequence[int],
    identities: Sequence[int],
    modalities: Sequence[int],
    path: str,
    title: str = "",
    size_px=(900, 700),
) -> str:
    """Scatter of a 2-D embedding of part descriptors: colour = part index (the paper's
    supplementary Fig. 1/2), marker = modality (o visible, ^ infrared); each identity's points
    of one part are joined to their mean by faint lines so that identity clusters show.
    The PNG is `size_px` (width, height) pixels."""
    embedding = np.asarray(embedding, dtype=np.float64)
    part_index, identities, modalities = (np.asarray(a) for a in (part_index, identities, modalities))
    if not (len(embedding) == len(part_index) == len(identities) == len(modalities)):
        raise ValueError("embedding, part_index, identities and modalities must have the same length")
    fig = Figure(figsize=(size_px[0] / DPI, size_px[1] / DPI), dpi=DPI)
    ax = fig.add_axes([0.06, 0.07, 0.72, 0.85])
    colours = _part_colours(int(part_index.max()) + 1)
    for part in np.unique(part_index):
        for pid in np.unique(identities):
            sel = (part_index == part) & (identities == pid)
            if sel.sum() > 1:
                centre = embedding[sel].mean(0)
                for point in embedding[sel]:
                    ax.plot([centre[0], point[0]], [centre[1], point[1]], color=colours[part], lw=0.4, alpha=0.35)
    for modality, marker in ((0, "o"), (1, "^")):
        for part in np.unique(part_index):
            sel = (part_index == part) & (modalities == modality)
            ax.scatter(embedding[sel, 0], embedding[sel, 1], s=22, marker=marker, color=colours[part],
                       edgecolors="black", linewidths=0.3)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"t-SNE of part descriptors ({len(np.unique(identities))} identities)")
    from matplotlib.lines import Line2D

    handles = [Line2D([], [], marker="s", ls="", color=colours[m], label=f"part {m + 1}")
               for m in range(len(colours))]
    handles += [Line2D([], [], marker=mk, ls="", color="gray", markeredgecolor="black", label=MODALITY_NAMES[mod])
                for mod, mk in ((0, "o"), (1, "^"))]
    fig.legend(handles=handles, loc="center left", bbox_to_anchor=(0.8, 0.5), frameon=False)
    return _save(fig, path)


def _part_colours(count: int) -> List:
    from matplotlib import colormaps

    cmap = colormaps["tab10" if count <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(count)]


def save_part_map_overlays(
    images: np.ndarray,
    part_maps: np.ndarray,
    labels: Sequence[str],
    path: str,
    cell_px=(96, 192),
    part_titles: Optional[Sequence[str]] = None,
) -> str:
    """One row per image: the image, then each part map (bilinearly upsampled to the image)
    over a dimmed copy of it. Column m is titled "part m", followed by `part_titles[m - 1]` when
    given (e.g. the part it matches and its purity). The PNG is (cell_w * (M + 1)) x
    (cell_h * N + 30) pixels for N images and M parts (30 px for the column titles)."""
    images = np.asarray(images)
    part_maps = np.asarray(part_maps, dtype=np.float32)
    if images.ndim != 4 or part_maps.ndim != 4 or len(images) != len(part_maps) or len(labels) != len(images):
        raise ValueError(
            f"Expected N images (N,3,H,W), N part maps (N,M,h,w) and N labels, got {images.shape}, "
            f"{part_maps.shape} and {len(labels)} labels"
        )
    import cv2

    n, m = len(images), part_maps.shape[1]
    if part_titles is not None and len(part_titles) != m:
        raise ValueError(f"Got {len(part_titles)} part titles for {m} part maps")
    width, height = cell_px[0] * (m + 1), cell_px[1] * n + 30
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    cell_w, cell_h = 1.0 / (m + 1), (1.0 - 30.0 / height) / n
    for row in range(n):
        image = _hwc(images[row])
        h, w = image.shape[:2]
        for col in range(m + 1):
            ax = fig.add_axes([col * cell_w + 0.005, 1.0 - 30.0 / height - (row + 1) * cell_h + 0.003,
                               cell_w - 0.01, cell_h - 0.006])
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.imshow(image)
                ax.set_ylabel(labels[row], fontsize=7)
            else:
                heat = cv2.resize(part_maps[row, col - 1], (w, h), interpolation=cv2.INTER_LINEAR)
                ax.imshow((image * 0.5).astype(np.uint8))
                ax.imshow(np.clip(heat, 0.0, 1.0), cmap="jet", alpha=0.5, vmin=0.0, vmax=1.0)
            if row == 0 and col == 0:
                ax.set_title("input", fontsize=8)
            elif row == 0:
                title = f"part {col}" if part_titles is None else f"part {col}\n{part_titles[col - 1]}"
                ax.set_title(title, fontsize=7 if part_titles else 8, linespacing=1.0)
    return _save(fig, path)


def save_retrieval_grid(
    query_images: np.ndarray,
    gallery_images: np.ndarray,
    correct: np.ndarray,
    query_labels: Sequence[str],
    gallery_labels: Sequence[Sequence[str]],
    path: str,
    cell_px=(80, 176),
) -> str:
    """One row per query: the query (blue border), then its top-k gallery images with a green
    border when they show the query's identity and a red one otherwise. Images are (Q,3,H,W)
    and (Q,k,3,H,W) uint8. The PNG is (cell_w * (k + 1)) x (cell_h * Q) pixels."""
    query_images, gallery_images, correct = np.asarray(query_images), np.asarray(gallery_images), np.asarray(correct)
    if gallery_images.ndim != 5 or correct.shape != gallery_images.shape[:2] or len(query_images) != len(correct):
        raise ValueError(
            f"Expected (Q,3,H,W) queries, (Q,k,3,H,W) gallery and (Q,k) matches, got {query_images.shape}, "
            f"{gallery_images.shape} and {correct.shape}"
        )
    q, k = correct.shape
    width, height = cell_px[0] * (k + 1), cell_px[1] * q
    fig = Figure(figsize=(width / DPI, height / DPI), dpi=DPI)
    cell_w, cell_h = 1.0 / (k + 1), 1.0 / q
    for row in range(q):
        for col in range(k + 1):
            ax = fig.add_axes([col * cell_w + 0.1 * cell_w, 1.0 - (row + 1) * cell_h + 0.04 * cell_h,
                               0.8 * cell_w, 0.8 * cell_h])
            ax.set_xticks([])
            ax.set_yticks([])
            if col == 0:
                ax.imshow(_hwc(query_images[row]))
                colour, label = "tab:blue", query_labels[row]
            else:
                ax.imshow(_hwc(gallery_images[row, col - 1]))
                colour = "tab:green" if correct[row, col - 1] else "tab:red"
                label = gallery_labels[row][col - 1]
            for spine in ax.spines.values():
                spine.set_edgecolor(colour)
                spine.set_linewidth(4)
            ax.set_xlabel(label, fontsize=6.5, labelpad=2)
    return _save(fig, path)


def _series(rows: List[dict]) -> Dict[str, List[tuple]]:
    """name -> [(iteration, value)], the last value of an iteration winning (a resumed run
    repeats the iterations after its last checkpoint)."""
    latest = defaultdict(dict)
    for row in rows:
        for name, value in row.items():
            if name != "iteration" and isinstance(value, (int, float)):
                latest[name][int(row["iteration"])] = float(value)
    return {name: sorted(values.items()) for name, values in latest.items()}


def save_training_curves(rows: List[dict], path: str, size_px=(1200, 900), eval_metrics=("Rank-1", "mAP", "mINP")) -> str:
    """Three stacked panels sharing the iteration axis: loss terms (log scale), learning rate,
    and evaluation metrics (`eval/<group>/<metric>` for `eval_metrics`). A panel without data
    says so. The PNG is `size_px` (width, height) pixels."""
    series = _series(rows)
    fig = Figure(figsize=(size_px[0] / DPI, size_px[1] / DPI), dpi=DPI)
    axes = fig.subplots(3, 1, sharex=True)
    fig.subplots_adjust(left=0.08, right=0.72, top=0.96, bottom=0.07, hspace=0.12)
    panels = [
        (axes[0], "loss", sorted(n for n in series if n.startswith("loss") or n == "total_loss")),
        (axes[1], "learning rate", [n for n in ("lr",) if n in series]),
        (axes[2], "evaluation (%)", sorted(n for n in series if n.startswith("eval/")
                                           and n.split("/")[-1] in eval_metrics)),
    ]
    for ax, ylabel, names in panels:
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if not names:
            ax.text(0.5, 0.5, f"no {ylabel} in metrics.json", ha="center", va="center", transform=ax.transAxes,
                    color="gray")
            continue
        for name in names:
            its, values = zip(*series[name])
            style = dict(marker="o", ms=4) if name.startswith("eval/") else dict(lw=2.0 if name == "total_loss" else 1.0)
            ax.plot(its, values, label=name[len("eval/"):] if name.startswith("eval/") else name, **style)
        if ylabel == "loss" and all(v > 0 for n in names for _, v in series[n]):
            ax.set_yscale("log")
        ax.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8, frameon=False)
    axes[-1].set_xlabel("iteration")
    return _save(fig, path)
