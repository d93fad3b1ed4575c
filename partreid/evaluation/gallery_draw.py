"""Random gallery draws shared by the protocols that average over sampled galleries."""
import random
from collections import defaultdict
from typing import Dict, List, Sequence, Tuple

from ..data.datasets.base import ReidItem


def group_by_identity_camera(items: Sequence[ReidItem], candidates: Sequence[int]) -> Dict[Tuple[int, int], List[int]]:
    """{(pid, camid): candidate indices sorted by image path}."""
    groups: Dict[Tuple[int, int], List[int]] = defaultdict(list)
    for index in candidates:
        groups[(items[index].pid, items[index].camid)].append(index)
    return {key: sorted(group, key=lambda i: items[i].path) for key, group in groups.items()}


def seeded_gallery_draw(items: Sequence[ReidItem], candidates: Sequence[int], shots: int, seed: int) -> List[int]:
    """Draw `shots` images per identity per camera (all of them where fewer exist).

    Identities are visited in ascending pid, cameras in ascending camid, images in path
    order, with `random.Random(seed)`: `choice` for one shot, `sample` for more. For one
    shot and seed = trial this reproduces the draw of AGW / DEEN's public test scripts
    (`random.seed(trial)`, then `random.choice` over each sorted camera folder), so that
    galleries, not only protocols, match theirs.
    """
    if shots < 1:
        raise ValueError(f"The number of gallery shots must be >= 1, got {shots}")
    rng = random.Random(seed)
    drawn: List[int] = []
    for _, group in sorted(group_by_identity_camera(items, candidates).items()):
        if shots == 1:
            drawn.append(rng.choice(group))
        else:
            drawn.extend(rng.sample(group, min(shots, len(group))))
    return drawn
