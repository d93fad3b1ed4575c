"""SYSU-MM01 protocol: infrared queries against sampled visible galleries, 10 trials."""
import logging
import os
from collections import OrderedDict
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np
import scipy.io
import torch

from ..config.configurable import ArgumentError, config_arguments, configurable
from ..data.datasets.base import INFRARED, VISIBLE
from .build import EVALUATOR_REGISTRY
from .evaluator import DatasetEvaluator, summarize_trials
from .gallery_draw import group_by_identity_camera, seeded_gallery_draw

logger = logging.getLogger(__name__)

# Visible cameras that form the gallery of each search mode.
GALLERY_CAMERAS = {"all": (1, 2, 4, 5), "indoor": (1, 2)}
# Camera 3 (IR) and camera 2 (RGB) film the same place: such pairs are never ranked.
_QUERY_CAMERA, _BLOCKED_GALLERY_CAMERA = 3, 2
# TEST.SYSU.DRAWS values.
DRAW_SOURCES = ("official", "seeded")
# What a result records as its "draw": the official file, the seeded single-shot draw of AGW's and
# DEEN's public test scripts, or the seeded multi-shot draw that only partreid makes.
OFFICIAL_DRAW, AGW_SEEDED_DRAW, PARTREID_SEEDED_DRAW = "official", "agw_seeded", "partreid_seeded"


def sysu_camera_rule(query_camids: Sequence[int], gallery_camids: Sequence[int]) -> Callable[[torch.Tensor], torch.Tensor]:
    """Keep mask of the SYSU rule: a cam-3 query never sees a cam-2 gallery image (any identity)."""
    q_blocked = torch.as_tensor(query_camids) == _QUERY_CAMERA
    g_blocked = torch.as_tensor(gallery_camids) == _BLOCKED_GALLERY_CAMERA

    def keep(query_index: torch.Tensor) -> torch.Tensor:
        return ~(q_blocked[query_index, None] & g_blocked[None, :])

    return keep


def _image_number(path: str) -> int:
    stem = os.path.splitext(os.path.basename(path))[0]
    if not stem.isdigit():
        raise ValueError(f"SYSU-MM01 image {path} is not named <number>.jpg; rand_perm_cam.mat cannot address it")
    return int(stem)


class OfficialGalleryDraw:
    """The official draws of `exp/rand_perm_cam.mat` (SYSU-MM01's evaluation kit).

    The file holds `rand_perm_cam`, a 6 x 1 cell (one per camera); cell c is an
    (ids x 1) cell indexed by raw pid - 1, each a (trials x images) matrix whose row t is a
    permutation of that person's 1-based image numbers in camera c. Trial t's gallery
    takes the first `shots` numbers of row t, i.e. `cam{c}/{pid:04d}/{number:04d}.jpg`.
    """

    def __init__(self, path: str):
        content = scipy.io.loadmat(path)
        if "rand_perm_cam" not in content:
            raise KeyError(f"{path} has no variable 'rand_perm_cam' (found: {sorted(content)})")
        cameras = content["rand_perm_cam"].reshape(-1)
        if cameras.size < 6:
            raise ValueError(f"{path}: rand_perm_cam has {cameras.size} camera cells, expected 6")
        self.path = path
        self._cells = [np.asarray(cell).reshape(-1) for cell in cameras]

    def draw(self, items, candidates: Sequence[int], shots: int, trial: int) -> List[int]:
        groups = group_by_identity_camera(items, candidates)
        drawn: List[int] = []
        for (pid, camid), group in sorted(groups.items()):
            by_number = {_image_number(items[i].path): i for i in group}
            cell = self._cells[camid - 1]
            perm = np.atleast_2d(cell[pid - 1]) if pid - 1 < cell.size else np.zeros((0, 0))
            if perm.size == 0 or perm.shape[0] <= trial:
                raise ValueError(
                    f"{self.path}: no trial {trial} permutation for camera {camid}, id {pid} "
                    f"(the dataset has {len(group)} images there); lower TEST.NUM_TRIALS or remove the file"
                )
            for number in perm[trial][:shots].astype(int).tolist():
                if number not in by_number:
                    raise ValueError(
                        f"{self.path} draws image {number:04d} of camera {camid}, id {pid}, "
                        f"which is not in the test set (has {sorted(by_number)})"
                    )
                drawn.append(by_number[number])
        return drawn


@EVALUATOR_REGISTRY.register()
class SYSUEvaluator(DatasetEvaluator):
    """All/indoor search x single/multi-shot (`modes`, `shots`: TEST.SYSU.MODES, TEST.SYSU.SHOTS).

    Queries: every infrared test image. Gallery: per trial, per test identity, per visible
    camera of the mode, `shots` images, from `root/exp/rand_perm_cam.mat` when present
    (and `draws` is "official") or else a seeded draw with seed = trial. Metrics
    average over `num_trials` (TEST.NUM_TRIALS) trials with the unique-identity CMC of AGW's eval_sysu. One
    group per (mode, shots), named e.g. "all_search_1shot"; the first is the primary one.
    Each group also holds "draw", the name of its gallery draw (see `draw_name`), because
    numbers from different draws are not the same measurement.
    """

    @configurable
    def __init__(
        self,
        dataset,
        *,
        modes: Sequence[str] = ("all", "indoor"),
        shots: Sequence[int] = (1, 10),
        draws: str = "official",
        **kwargs,
    ):
        """
        Args:
            dataset: a dataset in the SYSU-MM01 layout (its `root` may hold exp/rand_perm_cam.mat).
            modes: search modes, "all" and/or "indoor".
            shots: gallery images per identity per camera, 1 and/or 10.
            draws: "official" (rand_perm_cam.mat when present, else seeded) or "seeded".
            kwargs: DatasetEvaluator's arguments (num_trials, flip_features, ...).
        """
        super().__init__(dataset, **kwargs)
        self.modes = list(modes)
        self.shots = list(shots)
        for mode in self.modes:
            if mode not in GALLERY_CAMERAS:
                raise ArgumentError("{modes} has {value!r}; expected a subset of {choices}",
                                    value=mode, choices=sorted(GALLERY_CAMERAS))
        if not self.modes or not self.shots or any(int(s) < 1 for s in self.shots):
            raise ArgumentError("{modes} ({mode_values}) and {shots} ({shot_values}, each >= 1) must be non-empty",
                                mode_values=self.modes, shot_values=self.shots)
        if draws not in DRAW_SOURCES:
            raise ArgumentError("{draws}={value!r}: expected one of {choices}", value=draws, choices=list(DRAW_SOURCES))
        perm_path = os.path.join(dataset.root, "exp", "rand_perm_cam.mat")
        self.official: Optional[OfficialGalleryDraw] = None
        if draws == "official" and os.path.isfile(perm_path):
            self.official = OfficialGalleryDraw(perm_path)
            logger.info("SYSU-MM01 galleries: official draws from %s", perm_path)
        elif draws == "official":
            logger.warning("SYSU-MM01 galleries: %s not found, using seeded draws (seed = trial index) instead of "
                           "the official ones; each result records its draw", perm_path)
        else:
            logger.info("SYSU-MM01 galleries: seeded draws (seed = trial index, TEST.SYSU.DRAWS seeded)")

    @classmethod
    def from_config(cls, cfg, dataset):
        arguments = super().from_config(cfg, dataset)
        keys = {"modes": "TEST.SYSU.MODES", "shots": "TEST.SYSU.SHOTS", "draws": "TEST.SYSU.DRAWS"}
        arguments.update(config_arguments(cfg, keys))
        return arguments

    def draw_name(self, shots: int) -> str:
        """The name a result records for its galleries: "official" (rand_perm_cam.mat),
        "agw_seeded" (one shot, seed = trial: the galleries of AGW's and DEEN's test scripts) or
        "partreid_seeded" (several shots, seed = trial: partreid's own draw, comparable with no
        published multi-shot number draw for draw)."""
        if self.official is not None:
            return OFFICIAL_DRAW
        return AGW_SEEDED_DRAW if shots == 1 else PARTREID_SEEDED_DRAW

    def gallery(self, mode: str, shots: int, trial: int) -> List[int]:
        """Test indices of trial `trial`'s gallery."""
        items = self.dataset.test
        cameras = GALLERY_CAMERAS[mode]
        candidates = [i for i, it in enumerate(items) if it.modality == VISIBLE and it.camid in cameras]
        if self.official is not None:
            return self.official.draw(items, candidates, shots, trial)
        return seeded_gallery_draw(items, candidates, shots, seed=trial)

    def compute(self, features: torch.Tensor) -> "OrderedDict[str, Dict[str, float]]":
        items = self.dataset.test
        query = [i for i, it in enumerate(items) if it.modality == INFRARED]
        if not query:
            raise ValueError(f"{type(self.dataset).__name__}: no infrared test images to use as SYSU queries")
        query_cams = [items[i].camid for i in query]
        # Every trial's gallery is a subset of the visible images: one matmul serves all the
        # trials, modes and shots (re-ranking depends on the gallery and recomputes per trial).
        visible = [i for i, it in enumerate(items) if it.modality == VISIBLE]
        visible_column = torch.full((len(items),), -1, dtype=torch.long)
        visible_column[visible] = torch.arange(len(visible))
        query_to_visible = None if self.rerank else self.distance(features[query], features[visible])
        results: "OrderedDict[str, Dict[str, float]]" = OrderedDict()
        for mode in self.modes:
            for shots in self.shots:
                trials = []
                for trial in range(self.num_trials):
                    gallery = self.gallery(mode, int(shots), trial)
                    keep = sysu_camera_rule(query_cams, [items[i].camid for i in gallery])
                    distmat = None if query_to_visible is None else query_to_visible[:, visible_column[gallery]]
                    ranking = self.rank(
                        features, query, gallery, keep=keep, unique_identities=True, distmat=distmat
                    )
                    trials.append(ranking.summary())
                results[f"{mode}_search_{shots}shot"] = {**summarize_trials(trials), "draw": self.draw_name(int(shots))}
        return results
