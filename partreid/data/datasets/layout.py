"""Readers for the on-disk pieces the VI-ReID datasets share (id lines, idx lists, camera
folders). Every check fails with the offending path and the layout that was expected, so a
broken download is diagnosed before a run starts rather than half-way through an epoch."""
import os
import re
from typing import Dict, List, Tuple

from iopath.common.file_io import g_pathmgr

from ...utils.errors import UserError
from .base import ReidItem

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp")
_CAMERA_DIR = re.compile(r"^cam(\d+)$")


class DatasetLayoutError(UserError, RuntimeError):
    """The dataset tree on disk does not match the layout its loader expects."""


def _expected(layout: str) -> str:
    return f"\nExpected layout:\n{layout}" if layout else ""


def require_dir(path: str, layout: str = "") -> None:
    if not g_pathmgr.isdir(path):
        raise DatasetLayoutError(f"Missing folder: {path}{_expected(layout)}")


def require_file(path: str, layout: str = "") -> None:
    if not g_pathmgr.isfile(path):
        raise DatasetLayoutError(f"Missing file: {path}{_expected(layout)}")


def read_id_line(path: str, layout: str = "") -> List[int]:
    """Ids stored as one comma-separated line (SYSU-MM01 `exp/*_id.txt`, LLCM `idx/test_id.txt`)."""
    require_file(path, layout)
    with g_pathmgr.open(path, "r") as f:
        text = f.read()
    tokens = [t.strip() for t in text.replace("\n", ",").split(",") if t.strip()]
    if not tokens:
        raise DatasetLayoutError(f"Empty id list: {path} (expected one comma-separated line of ids)")
    try:
        return [int(t) for t in tokens]
    except ValueError:
        raise DatasetLayoutError(
            f"Bad id list {path}: expected comma-separated integers, got {text.strip()[:80]!r}"
        ) from None


def read_idx_list(path: str, root: str, layout: str = "") -> List[Tuple[str, int]]:
    """An idx list of `relative/path label` lines (RegDB, LLCM) as (absolute path, label)
    pairs; every listed image must exist under `root`."""
    require_file(path, layout)
    with g_pathmgr.open(path, "r") as f:
        lines = f.read().splitlines()
    entries = []
    for line_no, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        fields = line.split()
        if len(fields) != 2 or not fields[1].lstrip("-").isdigit():
            raise DatasetLayoutError(f"{path}:{line_no}: expected 'relative/path label', got {line!r}")
        image = os.path.join(root, fields[0])
        if not g_pathmgr.isfile(image):
            raise DatasetLayoutError(f"{path}:{line_no}: listed image does not exist: {image}")
        entries.append((image, int(fields[1])))
    if not entries:
        raise DatasetLayoutError(f"Empty id list: {path} has no 'relative/path label' lines")
    return entries


def camera_dirs(folder: str, layout: str = "") -> Dict[int, str]:
    """The `cam<N>` sub-folders of `folder` as {N: path}; at least one must exist."""
    require_dir(folder, layout)
    cams = {}
    for name in g_pathmgr.ls(folder):
        match = _CAMERA_DIR.match(name)
        if match and g_pathmgr.isdir(os.path.join(folder, name)):
            cams[int(match.group(1))] = os.path.join(folder, name)
    if not cams:
        raise DatasetLayoutError(f"No cam<N> folders in {folder}{_expected(layout)}")
    return dict(sorted(cams.items()))


def list_images(folder: str) -> List[str]:
    """Sorted image files of an identity folder; an existing but empty folder is an error
    (it means an interrupted copy, not an identity absent from that camera)."""
    images = sorted(
        os.path.join(folder, name) for name in g_pathmgr.ls(folder) if name.lower().endswith(IMAGE_EXTENSIONS)
    )
    if not images:
        raise DatasetLayoutError(f"Empty camera folder: {folder} holds no {'/'.join(IMAGE_EXTENSIONS)} images")
    return images


def collect_identity_images(pids, camera_folders, missing_message) -> list:
    """ReidItems for every image of each pid under `camera_folders` ([(camera, modality,
    folder)], one sub-folder `{pid:04d}` per identity). An identity with no folder in any
    camera is an error: `missing_message(pid)` says where it was listed and the layout."""
    items = []
    for pid in pids:
        found = False
        for cam, modality, cam_dir in camera_folders:
            folder = os.path.join(cam_dir, f"{pid:04d}")
            if g_pathmgr.isdir(folder):
                found = True
                items.extend(ReidItem(path, pid, cam, modality) for path in list_images(folder))
        if not found:
            raise DatasetLayoutError(missing_message(pid))
    return items


def camera_of(path: str) -> int:
    """Camera number from a `cam<N>` component of an image path."""
    for part in reversed(path.replace("\\", "/").split("/")[:-1]):
        match = _CAMERA_DIR.match(part)
        if match:
            return int(match.group(1))
    raise DatasetLayoutError(f"Cannot tell the camera of {path}: expected a 'cam<N>' folder in its path")


def relabel(pids) -> Dict[int, int]:
    """Map raw identity labels to 0..N-1 in sorted order."""
    return {pid: label for label, pid in enumerate(sorted(set(pids)))}
