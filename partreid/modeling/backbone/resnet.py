"""torchvision ResNet as a ReID backbone: last stride, MPANet's modality alleviation, stage hooks."""
import logging
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from iopath.common.file_io import g_pathmgr

from ...checkpoint.loading import load_checkpoint_file
from ...config.configurable import ArgumentError, config_arguments, configurable
from .build import BACKBONE_REGISTRY
from .pretrained import resolve_pretrain_path

logger = logging.getLogger(__name__)

_CONSTRUCTORS = {
    18: torchvision.models.resnet18,
    34: torchvision.models.resnet34,
    50: torchvision.models.resnet50,
    101: torchvision.models.resnet101,
}

# (stage index, features) -> features; called after every stage 0 (stem) .. 4.
HiddenHook = Callable[[int, torch.Tensor], torch.Tensor]


class ModalityAlleviation(nn.Module):
    """MPANet's modality-alleviation module: a squeeze-excitation gate m in (0,1)^C chooses,
    per channel, between the feature map and its instance-normalised version,
    x * m + IN(x) * (1 - m). Instance norm strips per-image style statistics (the part of the
    signal that differs most between RGB and IR); the gate lets the network keep what matters."""

    def __init__(self, channels: int, reduction: int = 16):
        super().__init__()
        hidden = max(channels // reduction, 1)
        self.gate = nn.Sequential(
            nn.Conv2d(channels, hidden, kernel_size=1, bias=False),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, kernel_size=1, bias=False),
            nn.Sigmoid(),
        )
        # Not affine and no running statistics: a pure per-image standardisation.
        self.instance_norm = nn.InstanceNorm2d(channels, affine=False, track_running_stats=False)
        for module in self.gate:
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        mask = self.gate(x.mean(dim=(2, 3), keepdim=True))  # global average pooling with a deterministic CUDA backward
        return x * mask + self.instance_norm(x) * (1 - mask)


@BACKBONE_REGISTRY.register()
class ResNet(nn.Module):
    """ResNet-18/34/50/101 without its classifier. Module names follow torchvision
    (conv1, bn1, layer1..layer4) so that torchvision ImageNet state dicts load as they are."""

    DEPTHS = tuple(sorted(_CONSTRUCTORS))
    NORMS = ("BN", "SyncBN")
    PADDING_MODES = ("zeros", "reflect", "replicate", "circular")

    @configurable
    def __init__(
        self,
        *,
        depth: int = 50,
        last_stride: int = 1,
        norm: str = "BN",
        modality_alleviation: Sequence[int] = (),
        pretrain_path: Optional[str] = "",
        allow_download: bool = False,
        allow_random_init: bool = True,
        num_stages: int = 4,
        padding_mode: str = "zeros",
    ):
        """
        Args:
            depth: 18, 34, 50 or 101.
            last_stride: stride of the last stage; 1 keeps twice the resolution (standard in ReID).
            norm: "BN", or "SyncBN", which the trainer applies to the whole model where a process
                group can synchronise statistics (several CUDA processes).
            modality_alleviation: stages (1..4) followed by MPANet's modality-alleviation module.
            pretrain_path: ImageNet weights to start from: a torchvision-format state dict or
                "torchvision://<arch>[/<weights>]" (see pretrained.py); "" for none (random
                weights, allowed by `allow_random_init`); None when the caller loads weights over
                the whole backbone afterwards (nothing is loaded, checked or warned about).
            allow_download: fetch a "torchvision://" file missing from the torch hub cache.
            allow_random_init: whether an empty `pretrain_path` may start from random weights.
            num_stages: 4 (the whole ResNet) or 3 (stop after layer3: half the channels, and with
                last_stride 1 feature maps of stride 8, twice as many rows and columns as the full
                network's for less computation; finer part maps on small inputs).
            padding_mode: how every padded convolution, and the stem's max pooling, extend the
                image past its border: "zeros" (torchvision), or "reflect", "replicate",
                "circular" (torch's modes). Zero padding tells the network where the border is,
                so features can encode absolute position (a part map can then sit at a fixed
                place in every image); "circular" makes the backbone equivariant to cyclic
                shifts by multiples of its stride, so it cannot.
        """
        super().__init__()
        if depth not in _CONSTRUCTORS:
            raise ArgumentError("{depth}={value!r}: expected one of {choices}", value=depth, choices=list(self.DEPTHS))
        if last_stride not in (1, 2):
            raise ArgumentError("{last_stride}={value!r}: expected 1 or 2", value=last_stride)
        if num_stages not in (3, 4):
            raise ArgumentError("{num_stages}={value!r}: expected 3 or 4", value=num_stages)
        if padding_mode not in self.PADDING_MODES:
            raise ArgumentError("{padding_mode}={value!r}: expected one of {choices}", value=padding_mode,
                                choices=self.PADDING_MODES)
        if norm not in self.NORMS:
            raise ArgumentError("{norm}={value!r}: expected 'BN' or 'SyncBN'", value=norm)
        alleviated = sorted(set(modality_alleviation))
        if any(stage not in range(1, num_stages + 1) for stage in alleviated):
            raise ArgumentError(
                "{modality_alleviation}={value!r}: expected stages among 1..{stages}", value=list(modality_alleviation),
                stages=num_stages,
            )

        net = _CONSTRUCTORS[depth](weights=None)
        self.conv1, self.bn1, self.relu, self.maxpool = net.conv1, net.bn1, net.relu, net.maxpool
        self.stages = tuple(range(1, num_stages + 1))
        for stage in self.stages:
            setattr(self, f"layer{stage}", getattr(net, f"layer{stage}"))
        if last_stride == 1:
            _remove_stride(getattr(self, f"layer{num_stages}")[0])
        if padding_mode != "zeros":
            _set_padding_mode(self, padding_mode)

        stage_channels = {i: _block_out_channels(getattr(self, f"layer{i}")[-1]) for i in self.stages}
        self.modality_alleviation = nn.ModuleDict(
            {str(stage): ModalityAlleviation(stage_channels[stage]) for stage in alleviated}
        )
        self.out_channels = stage_channels[num_stages]
        self._initialise(pretrain_path, allow_download, allow_random_init)

    @classmethod
    def from_config(cls, cfg):
        keys = {
            "depth": "MODEL.BACKBONE.DEPTH",
            "last_stride": "MODEL.BACKBONE.LAST_STRIDE",
            "norm": "MODEL.BACKBONE.NORM",
            "modality_alleviation": "MODEL.BACKBONE.MODALITY_ALLEVIATION",
            "pretrain_path": "MODEL.BACKBONE.PRETRAIN_PATH",
            "allow_download": "MODEL.BACKBONE.ALLOW_DOWNLOAD",
            "allow_random_init": "MODEL.BACKBONE.ALLOW_RANDOM_INIT",
            "num_stages": "MODEL.BACKBONE.NUM_STAGES",
            "padding_mode": "MODEL.BACKBONE.PADDING_MODE",
        }
        arguments = config_arguments(cfg, keys)
        if cfg.MODEL.WEIGHTS:
            # an evaluation or fine-tuning then needs no ImageNet file
            logger.info(f"MODEL.BACKBONE.PRETRAIN_PATH not loaded: MODEL.WEIGHTS={cfg.MODEL.WEIGHTS} "
                        "replaces the backbone's weights")
            arguments["pretrain_path"] = None
        return arguments

    def _initialise(self, pretrain_path: Optional[str], allow_download: bool, allow_random_init: bool) -> None:
        """ImageNet weights from `pretrain_path`; random weights only where allowed."""
        if pretrain_path is None:
            return
        if pretrain_path:
            self.load_pretrained(resolve_pretrain_path(pretrain_path, allow_download))
            return
        if not allow_random_init:
            raise ArgumentError(
                "{pretrain_path} is empty and {allow_random_init} is False: the published numbers start from "
                "ImageNet weights, and this backbone must not start from random ones by accident. Set "
                "{pretrain_path} to 'torchvision://resnet50' (read from the torch hub cache; set {allow_download} "
                "True to fetch it once) or to a local torchvision state dict (.pth); or set {allow_random_init} "
                "True to train from scratch on purpose."
            )
        logger.warning(
            "The ResNet backbone is RANDOMLY INITIALISED (no ImageNet weights: MODEL.BACKBONE.PRETRAIN_PATH, or "
            "pretrain_path, is empty). Set it to torchvision://resnet50 or a torchvision ImageNet state dict to "
            "reproduce published results."
        )

    def load_pretrained(self, path: str) -> None:
        """Load a torchvision-format ResNet state dict; the classifier (fc.*) is dropped and
        the modality-alleviation modules, absent from ImageNet weights, keep their init. The
        loaded tensors, and those left at their initialisation, are logged."""
        if not g_pathmgr.exists(path):
            raise FileNotFoundError(f"MODEL.BACKBONE.PRETRAIN_PATH={path!r} does not exist")
        state = load_checkpoint_file(path)
        own = self.state_dict()
        if not isinstance(state, dict) or not any(key in own for key in state):
            raise ValueError(
                f"MODEL.BACKBONE.PRETRAIN_PATH={path!r} holds no torchvision ResNet weights "
                "(expected a flat state dict with keys such as 'conv1.weight', 'layer1.0.bn1.weight')"
            )
        try:
            result = self.load_state_dict(state, strict=False)
        except RuntimeError as err:
            raise ValueError(f"MODEL.BACKBONE.PRETRAIN_PATH={path!r} does not fit this ResNet: {err}") from err
        loaded = [k for k in state if k in own]
        logger.info(f"Loaded {len(loaded)} backbone tensors from {path} ({', '.join(_top_modules(loaded))})")
        new_modules = [k for k in result.missing_keys if k.startswith("modality_alleviation.")]
        if new_modules:
            logger.info(f"Kept at their initialisation (not part of ImageNet weights): {', '.join(new_modules)}")
        missing = [k for k in result.missing_keys if not k.startswith("modality_alleviation.")]
        dropped = tuple(f"layer{stage}." for stage in range(len(self.stages) + 1, 5)) + ("fc.",)
        unexpected = [k for k in result.unexpected_keys if not k.startswith(dropped)]
        if missing:
            logger.warning(f"Backbone weights missing from {path} (left at init): {', '.join(missing)}")
        if unexpected:
            logger.warning(f"Keys in {path} not used by the backbone: {', '.join(unexpected)}")

    def forward(self, x: torch.Tensor, hidden_hook: Optional[HiddenHook] = None) -> torch.Tensor:
        """Image batch (B,3,H,W) -> feature map (B, out_channels, h, w). `hidden_hook(stage, x)`
        is called after every stage (0 = stem, 1..4 = layer1..4, each after its modality
        alleviation) and returns the features the next stage consumes (Manifold MixUp)."""
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        if hidden_hook is not None:
            x = hidden_hook(0, x)
        for stage in self.stages:
            x = getattr(self, f"layer{stage}")(x)
            if str(stage) in self.modality_alleviation:
                x = self.modality_alleviation[str(stage)](x)
            if hidden_hook is not None:
                x = hidden_hook(stage, x)
        return x


def _top_modules(keys) -> list:
    """The first components of state-dict keys, in order of first appearance (conv1, bn1, layer1, ...)."""
    return list(dict.fromkeys(key.split(".")[0] for key in keys))


def _block_out_channels(block: nn.Module) -> int:
    last_bn = block.bn3 if hasattr(block, "bn3") else block.bn2
    return last_bn.num_features


class _PaddedMaxPool(nn.Module):
    """Max pooling over an input padded with `mode` (torch's max pooling pads with -inf only)."""

    def __init__(self, pool: nn.MaxPool2d, mode: str):
        super().__init__()
        self.padding, self.mode = pool.padding, mode
        self.pool = nn.MaxPool2d(pool.kernel_size, pool.stride, padding=0, ceil_mode=pool.ceil_mode)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pool(F.pad(x, [self.padding] * 4, mode=self.mode))


def _set_padding_mode(net: nn.Module, mode: str) -> None:
    """Every padded convolution pads with `mode`, and so does the stem's max pooling."""
    for module in net.modules():
        if isinstance(module, nn.Conv2d) and any(p > 0 for p in module.padding):
            module.padding_mode = mode
    net.maxpool = _PaddedMaxPool(net.maxpool, mode)


def _remove_stride(block: nn.Module) -> None:
    """Make the first block of the last stage keep the resolution (the 'last stride 1' trick)."""
    for module in block.modules():
        if isinstance(module, nn.Conv2d) and module.stride == (2, 2):
            module.stride = (1, 1)
