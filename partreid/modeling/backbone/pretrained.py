"""Where MODEL.BACKBONE.PRETRAIN_PATH points: a local file, or "torchvision://<arch>[/<weights>]",
a torchvision weights file in the torch hub cache. Nothing is downloaded unless the config allows
it (MODEL.BACKBONE.ALLOW_DOWNLOAD), so that a run never depends on the network by surprise."""
import logging
import os
from urllib.parse import urlparse

import torch
import torchvision

logger = logging.getLogger(__name__)

TORCHVISION_SCHEME = "torchvision://"
# torchvision's first ImageNet weights: what `pretrained=True` loaded when MPANet, AGW, DEEN and
# the part-mixing methods were trained (the later IMAGENET1K_V2 came from a different recipe).
PAPER_WEIGHTS = "IMAGENET1K_V1"


def torchvision_weights(spec: str):
    """The torchvision weights enum member named by "torchvision://<arch>[/<weights>]"
    (<weights> defaults to PAPER_WEIGHTS)."""
    arch, _, name = spec[len(TORCHVISION_SCHEME):].partition("/")
    try:
        available = torchvision.models.get_model_weights(arch)
    except ValueError:
        raise ValueError(
            f"MODEL.BACKBONE.PRETRAIN_PATH={spec!r}: torchvision has no model '{arch}' "
            "(expected e.g. torchvision://resnet50)"
        ) from None
    name = name or PAPER_WEIGHTS
    if name not in available.__members__:
        raise ValueError(
            f"MODEL.BACKBONE.PRETRAIN_PATH={spec!r}: {arch} has no weights '{name}' "
            f"(available: {', '.join(available.__members__)})"
        )
    return available[name]


def torchvision_cache_path(weights) -> str:
    """Where torch.hub keeps the weights' file: <torch.hub.get_dir()>/checkpoints/<file name of the URL>."""
    return os.path.join(torch.hub.get_dir(), "checkpoints", os.path.basename(urlparse(weights.url).path))


def resolve_pretrain_path(spec: str, allow_download: bool = False) -> str:
    """The local file of a PRETRAIN_PATH value. A "torchvision://" value resolves in the torch hub
    cache; a file missing there is fetched once (with a progress bar) when `allow_download`,
    otherwise it is an error that says how to get it. Any other value is returned as it is."""
    if not spec.startswith(TORCHVISION_SCHEME):
        return spec
    weights = torchvision_weights(spec)
    path = torchvision_cache_path(weights)
    if os.path.isfile(path):
        logger.info(f"MODEL.BACKBONE.PRETRAIN_PATH={spec} resolved in the torch hub cache: {path}")
        return path
    if not allow_download:
        raise FileNotFoundError(
            f"MODEL.BACKBONE.PRETRAIN_PATH={spec} needs {path}, which is not in the torch hub cache "
            f"(torch.hub.get_dir() = {torch.hub.get_dir()}; set by $TORCH_HOME). Either allow one download "
            f"with MODEL.BACKBONE.ALLOW_DOWNLOAD True, or fetch {weights.url} into {os.path.dirname(path)} "
            "yourself (on a machine with network access, building the model once with torchvision, "
            f"e.g. torchvision.models.get_model('{spec[len(TORCHVISION_SCHEME):].partition('/')[0]}', "
            f"weights='{weights.name}'), fills the same cache), or set PRETRAIN_PATH to a local copy of the file."
        )
    logger.info(f"Downloading {weights.url} to {path} (MODEL.BACKBONE.ALLOW_DOWNLOAD True)")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    hash_match = torch.hub.HASH_REGEX.search(os.path.basename(path))
    # written to a temporary file and moved into place: an interrupted download leaves no file
    torch.hub.download_url_to_file(weights.url, path, hash_prefix=hash_match.group(1) if hash_match else None,
                                   progress=True)
    return path
