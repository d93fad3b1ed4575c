"""The part-based VI-ReID baseline (MPANet-style) that the mixers plug into."""
from typing import Callable, Optional, Sequence

import torch
import torch.nn as nn
import torch.nn.functional as F

from ...config.configurable import ArgumentError, config_arguments, configurable
from ...utils.errors import ConfigError
from ...utils.events import get_event_storage, has_event_storage
from ...utils.precision import full_precision
from ..backbone import build_backbone
from ..losses import build_losses, enabled_loss_names
from ..mixers import Mixer, NoMix, build_mixer
from ..part_heads import build_part_head
from .build import META_ARCH_REGISTRY


@META_ARCH_REGISTRY.register()
class PartBaseline(nn.Module):
    """backbone -> part head -> d = [p_1..p_M, g] -> BN-neck -> classifiers.

    Metric losses read the pre-BN d, classifiers the BN-necked d, retrieval uses the BN-necked d
    (BNNeck, Luo et al. 2019; the neck's bias is frozen at 0 as in MPANet). Three bias-free
    classifiers: C (shared identity), C_v and C_r (modality-specific), plus EMA "mean" copies of
    C_v and C_r kept as buffers (checkpointed, never optimised) for the modality learning loss.

    `PartBaseline(cfg)` builds the backbone, part head, mixer and losses the config names;
    `PartBaseline(backbone=..., part_head=..., num_classes=..., losses=[...])` takes built ones.
    """

    @configurable
    def __init__(
        self,
        *,
        backbone: nn.Module,
        part_head: nn.Module,
        num_classes: int,
        num_parts: Optional[int] = None,
        mixer: Optional[Mixer] = None,
        losses: Optional[Sequence[Callable[[dict, dict], dict]]] = None,
        detach_maps_for: Sequence[Callable[[dict, dict], dict]] = (),
        pixel_mean: Sequence[float] = (123.675, 116.28, 103.53),
        pixel_std: Sequence[float] = (58.395, 57.12, 57.375),
        mean_momentum: float = 0.8,
        mean_rate_decay: float = 0.0,
        channels_last: bool = True,
        mixer_start_epoch: int = 0,
        mixer_prob: float = 1.0,
    ):
        """
        Args:
            backbone: images (B,3,H,W) -> feature map (B,C,h,w), with an `out_channels` (C)
                attribute and `forward(x, hidden_hook=None)` (see docs/extending/backbone.md).
            part_head: feature map -> part maps and descriptors (docs/extending/part_head.md).
            num_classes: the number of training identities K.
            num_parts: M, the part head's number of parts; None reads `part_head.num_parts`.
            mixer: the training-time mixer; None mixes nothing (NoMix).
            losses: `loss(outputs, batch) -> {term: weighted value}` callables, summed by the
                trainer; None: no loss (an inference-only model).
            detach_maps_for: those of `losses` that see the part maps as constants: they read
                descriptors and logits of the same values, pooled with the maps detached, so their
                gradient trains the features and classifiers but does not move the maps. Needs a
                part head with maps and a `pool(maps, features)` method (PartDetector).
            pixel_mean, pixel_std: per-channel (RGB) statistics of the 0..255 input images.
            mean_momentum: momentum of the EMA mean modality classifiers, in [0, 1].
            mean_rate_decay: > 0: the EMA's rate (1 - mean_momentum) is scaled by
                min(1, mean_rate_decay / (epoch + 2)) at 0-based `epoch` (MPANet: 100, so the rate
                shrinks from epoch 99 on); 0: a constant rate.
            channels_last: run the backbone in channels_last memory format.
            mixer_start_epoch: epoch from which the mixer acts.
            mixer_prob: probability that the mixer acts on a batch.
        """
        super().__init__()
        if num_classes <= 0:
            raise ArgumentError("{num_classes}={value!r}: expected the number of training identities (> 0)",
                                value=num_classes)
        if not 0.0 <= mean_momentum <= 1.0:
            raise ArgumentError("{mean_momentum}={value!r}: expected a value in [0, 1]", value=mean_momentum)
        if mean_rate_decay < 0:
            raise ArgumentError("{mean_rate_decay}={value!r}: expected 0 (off) or a number of epochs > 0",
                                value=mean_rate_decay)
        if len(pixel_mean) != 3 or len(pixel_std) != 3:
            raise ArgumentError(
                "{pixel_mean}={mean} / {pixel_std}={std}: expected 3 values each (RGB, 0..255 scale)",
                mean=list(pixel_mean), std=list(pixel_std),
            )
        if any(all(loss is not other for other in losses or ()) for loss in detach_maps_for):
            raise ArgumentError("{detach_maps_for}: every loss listed must also be one of {losses}")
        if detach_maps_for and not callable(getattr(part_head, "pool", None)):
            raise ArgumentError(
                "{detach_maps_for} is not empty, but the part head {head} has no pool(maps, features) method to "
                "pool with detached maps (PartDetector has one)", head=type(part_head).__name__,
            )
        if num_parts is None:
            if not hasattr(part_head, "num_parts"):
                raise ArgumentError("{num_parts} is None and the part head has no num_parts attribute to read it from")
            num_parts = part_head.num_parts
        self.mean_momentum = mean_momentum
        self.mean_rate_decay = mean_rate_decay
        self.channels_last = channels_last
        self.mixer_start_epoch = mixer_start_epoch
        self.mixer_prob = mixer_prob

        self.backbone = backbone
        self.part_head = part_head
        self.num_parts = num_parts
        dim = (self.num_parts + 1) * self.backbone.out_channels
        self.feature_dim = dim

        self.bn_neck = nn.BatchNorm1d(dim)
        nn.init.constant_(self.bn_neck.bias, 0.0)
        self.bn_neck.bias.requires_grad_(False)
        self.classifier = nn.Linear(dim, num_classes, bias=False)
        self.classifier_visible = nn.Linear(dim, num_classes, bias=False)
        self.classifier_infrared = nn.Linear(dim, num_classes, bias=False)
        # The mean classifiers start as exact copies, as in MPANet.
        self.register_buffer("mean_classifier_visible", self.classifier_visible.weight.detach().clone())
        self.register_buffer("mean_classifier_infrared", self.classifier_infrared.weight.detach().clone())

        self.mixer = mixer if mixer is not None else NoMix()
        self.losses = list(losses or [])
        self.detach_maps_for = [any(loss is other for other in detach_maps_for) for loss in self.losses]
        # Losses that are modules (with or without parameters) follow the model's device and state.
        self.loss_modules = nn.ModuleList(loss for loss in self.losses if isinstance(loss, nn.Module))

        self.register_buffer("pixel_mean", torch.tensor(pixel_mean).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(pixel_std).view(1, 3, 1, 1), persistent=False)
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

    @classmethod
    def from_config(cls, cfg):
        """Builds the backbone, part head, mixer and losses the config names, in that order."""
        if cfg.MODEL.NUM_CLASSES <= 0:
            raise ValueError(
                f"MODEL.NUM_CLASSES={cfg.MODEL.NUM_CLASSES}: set it to the number of training identities "
                "(the engine fills it from the training dataset when it is 0; set it yourself when building "
                "a model outside the engine)"
            )
        keys = {
            "num_classes": "MODEL.NUM_CLASSES",
            "num_parts": "MODEL.PART_HEAD.NUM_PARTS",
            "pixel_mean": "MODEL.PIXEL_MEAN",
            "pixel_std": "MODEL.PIXEL_STD",
            "mean_momentum": "MODEL.CLASSIFIER.MEAN_MOMENTUM",
            "mean_rate_decay": "MODEL.CLASSIFIER.MEAN_RATE_DECAY",
            "channels_last": "MODEL.CHANNELS_LAST",
            "mixer_start_epoch": "MODEL.MIXER.START_EPOCH",
            "mixer_prob": "MODEL.MIXER.PROB",
        }
        names, detached = enabled_loss_names(cfg), list(cfg.MODEL.LOSSES.DETACH_MAPS)
        unknown = [name for name in detached if name not in names]
        if unknown:
            raise ValueError(f"MODEL.LOSSES.DETACH_MAPS={detached}: {unknown} not among the enabled losses {names} "
                             "(MODEL.LOSSES.<node>.ENABLED; list losses the model uses)")
        backbone = build_backbone(cfg)
        losses = build_losses(cfg)
        arguments = config_arguments(
            cfg,
            keys,
            backbone=backbone,
            part_head=build_part_head(cfg, backbone.out_channels),
            mixer=build_mixer(cfg),
            losses=losses,
            detach_maps_for=[loss for name, loss in zip(names, losses) if name in detached],
        )
        arguments.config_keys.update(losses="MODEL.LOSSES", detach_maps_for="MODEL.LOSSES.DETACH_MAPS")
        return arguments

    @property
    def device(self) -> torch.device:
        return self.pixel_mean.device

    def preprocess(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 (B,3,H,W) on any device -> normalised float on the model's device."""
        if images.dim() != 4 or images.shape[1] != 3:
            raise ValueError(f"Expected images of shape (B,3,H,W), got {tuple(images.shape)}")
        images = images.to(self.device, non_blocking=True).float()
        images = (images - self.pixel_mean) / self.pixel_std
        if self.channels_last:
            images = images.contiguous(memory_format=torch.channels_last)
        return images

    def describe(self, images: torch.Tensor, hidden_hook=None) -> dict:
        """Normalised images -> part head outputs plus the pre-BN person descriptor d."""
        features = self.backbone(images, hidden_hook=hidden_hook)
        head = self.part_head(features)
        b = features.shape[0]
        head["features"] = features
        head["descriptors"] = torch.cat([head["part_descriptors"].reshape(b, -1), head["global_descriptor"]], dim=1)
        return head

    def embed(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 images -> the BN-necked descriptors retrieval uses: no losses, no mixing, no
        EMA update (the eval forward, and the forward precise BN re-estimates statistics with)."""
        return self.bn_neck(self.describe(self.preprocess(images))["descriptors"])

    def forward(self, batch: dict):
        if not self.training:
            return self.embed(batch["images"])
        outputs = self.training_outputs(self.preprocess(batch["images"]), batch)
        terms = self.losses_from(outputs, batch)
        if outputs["mixed_targets"] is None:
            _record_training_accuracy(outputs["logits"], outputs["targets"])
        return terms

    def training_outputs(self, images: torch.Tensor, batch: dict) -> dict:
        """The training forward up to the losses: the `outputs` dict every loss reads."""
        if "epoch" not in batch:
            raise KeyError("A training batch needs an 'epoch' entry (the trainer adds it) to schedule the mixer")
        mixer = self._active_mixer(batch)
        mixed_targets, hidden_hook, captured = None, None, {}
        if mixer is not None:
            images, mixed_targets = mixer.mix_images(images, batch)
            hidden_hook = _hidden_mix_hook(mixer, batch, captured)
        outputs = self.describe(images, hidden_hook)
        mixed_targets = captured.get("mixed_targets", mixed_targets)

        bn_descriptors = self.bn_neck(outputs["descriptors"])
        self._update_mean_classifiers(batch["epoch"])
        with torch.no_grad():
            mean_logits_visible = F.linear(bn_descriptors, self.mean_classifier_visible)
            mean_logits_infrared = F.linear(bn_descriptors, self.mean_classifier_infrared)
        outputs.update(
            images=images,
            bn_descriptors=bn_descriptors,
            **self._trained_logits(bn_descriptors),
            mean_logits_visible=mean_logits_visible,
            mean_logits_infrared=mean_logits_infrared,
            targets=batch["targets"].to(self.device, non_blocking=True),
            modalities=batch["modalities"].to(self.device, non_blocking=True),
            mixed_targets=mixed_targets,
            mixer_acted=mixer is not None,
        )
        if mixer is not None:
            outputs.update(mixer.mix_descriptors(outputs, batch, self))
        return outputs

    def part_logits(self, bn_descriptors: torch.Tensor) -> torch.Tensor:
        """(N, M, K) per-part contributions to C's logits: W_m applied to part m's slice of the
        BN-necked descriptor (the logits sum them plus the global slot's contribution)."""
        n, m = bn_descriptors.shape[0], self.num_parts
        width = self.feature_dim // (m + 1)
        parts = bn_descriptors[:, : m * width].reshape(n, m, width)
        weights = self.classifier.weight[:, : m * width].reshape(-1, m, width)
        return torch.einsum("nmc,kmc->nmk", parts, weights)

    def losses_from(self, outputs: dict, batch: dict) -> dict:
        """The weighted terms of every loss. A loss that is active on this batch (always, or when
        the mixer acted for one with ACTIVE_WITH_MIXER = True) and returns no term is an error
        naming it: an enabled loss that silently never trains is a wrong experiment."""
        terms = {}
        detached = self._with_detached_maps(outputs) if any(self.detach_maps_for) else None
        for loss, sees_detached in zip(self.losses, self.detach_maps_for):
            with full_precision(self.device):  # every loss computes and reduces in float32 under autocast
                loss_terms = loss(detached if sees_detached else outputs, batch)
            if not loss_terms:
                _check_inactive(loss, outputs)
            for name, value in loss_terms.items():
                if name in terms:
                    raise KeyError(f"Loss term '{name}' is returned by two of the model's losses (MODEL.LOSSES)")
                terms[name] = value
        return terms

    def _with_detached_maps(self, outputs: dict) -> dict:
        """`outputs` with the descriptors, the BN-necked descriptors and the logits computed again
        from the part maps detached: the same values, without a gradient path to the maps. The
        BN-neck normalises with the statistics the batch already gave it (not updated twice)."""
        if outputs.get("part_maps") is None:
            raise ValueError("MODEL.LOSSES.DETACH_MAPS needs part maps; the part head returned none")
        features = outputs["features"]
        parts = self.part_head.pool(outputs["part_maps"].detach(), features)
        descriptors = torch.cat([parts.reshape(parts.shape[0], -1), outputs["global_descriptor"]], dim=1)
        bn = self.bn_neck
        batch_statistics = bn.training or bn.running_mean is None
        bn_descriptors = F.batch_norm(descriptors, None if batch_statistics else bn.running_mean,
                                      None if batch_statistics else bn.running_var, bn.weight, bn.bias,
                                      training=batch_statistics, eps=bn.eps)
        return dict(
            outputs,
            part_descriptors=parts,
            descriptors=descriptors,
            bn_descriptors=bn_descriptors,
            **self._trained_logits(bn_descriptors),
        )

    def _trained_logits(self, bn_descriptors: torch.Tensor) -> dict:
        """The four logits the optimiser trains, from BN-necked descriptors (C, its per-part
        shares, C_v, C_r): one place for the training forward and its detached-map copy."""
        return dict(
            logits=self.classifier(bn_descriptors),
            part_logits=self.part_logits(bn_descriptors),
            logits_visible=self.classifier_visible(bn_descriptors),
            logits_infrared=self.classifier_infrared(bn_descriptors),
        )

    def _active_mixer(self, batch: dict):
        """The mixer when it acts on this batch: from `mixer_start_epoch` (MODEL.MIXER.START_EPOCH)
        on, with probability `mixer_prob` (MODEL.MIXER.PROB), drawn from the mixer's seeded stream."""
        if batch["epoch"] < self.mixer_start_epoch:
            return None
        if "iteration" in batch:
            self.mixer.reseed(batch["iteration"])
        if self.mixer_prob < 1.0 and torch.rand((), generator=self.mixer.generator).item() >= self.mixer_prob:
            return None
        return self.mixer

    def mean_rate(self, epoch: int) -> float:
        """The EMA rate r of the mean classifiers at 0-based `epoch` (see `mean_rate_decay`)."""
        rate = 1.0 - self.mean_momentum
        if self.mean_rate_decay > 0:
            rate *= min(1.0, self.mean_rate_decay / (epoch + 2))
        return rate

    @torch.no_grad()
    def _update_mean_classifiers(self, epoch: int) -> None:
        """mean <- (1 - r) * mean + r * current (r = `mean_rate(epoch)`), once per training step,
        before the mean classifiers are used (MPANet's order)."""
        rate = self.mean_rate(epoch)
        self.mean_classifier_visible.mul_(1 - rate).add_(self.classifier_visible.weight.detach(), alpha=rate)
        self.mean_classifier_infrared.mul_(1 - rate).add_(self.classifier_infrared.weight.detach(), alpha=rate)

    @torch.no_grad()
    def extract(self, images: torch.Tensor) -> dict:
        """uint8 images -> {"features" (post-BN d), "part_descriptors", "global_descriptor",
        "part_maps"} in eval mode (for visualisation); the module's mode is restored after."""
        was_training = self.training
        self.eval()
        try:
            outputs = self.describe(self.preprocess(images))
            return {
                "features": self.bn_neck(outputs["descriptors"]),
                "part_descriptors": outputs["part_descriptors"],
                "global_descriptor": outputs["global_descriptor"],
                "part_maps": outputs["part_maps"],
            }
        finally:
            self.train(was_training)


@torch.compiler.disable  # Python state (the storage) changes every step: compiled, it would recompile each time
@torch.no_grad()
def _record_training_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> None:
    """Put "train/id_acc", the percentage of the batch the identity classifier C gets right, into
    the trainer's storage (metrics.json): how far the model has fit its training identities.
    Clean batches only: an image- or feature-mixed batch has no single right label. Called last in
    the training forward, so that under torch.compile the one graph break it makes ends the graph
    of the model and its losses rather than splitting it."""
    if has_event_storage():  # a tensor: the storage reads it back when a writer writes
        correct = (logits.argmax(dim=1) == targets).float().mean()
        get_event_storage().put_scalar("train/id_acc", 100.0 * correct)


def _hidden_mix_hook(mixer, batch: dict, captured: dict):
    """A backbone hook that applies `mixer.mix_hidden` after the stage the mixer picks for this
    batch (None when it mixes no hidden features); its label mixing lands in `captured`."""
    stage = mixer.hidden_stage()
    if stage is None:
        return None

    def hook(index: int, x: torch.Tensor) -> torch.Tensor:
        if index != stage:
            return x
        x, mixed_targets = mixer.mix_hidden(x, batch)
        if mixed_targets is not None:
            captured["mixed_targets"] = mixed_targets
        return x

    return hook


def _check_inactive(loss, outputs: dict) -> None:
    """Raise when `loss` returned no term although it should act on this batch: a config mistake
    (a loss enabled for a model or mixer that never gives it its inputs), named as such."""
    with_mixer = getattr(loss, "ACTIVE_WITH_MIXER", False)
    if with_mixer and not outputs.get("mixer_acted", False):
        return
    name, node = type(loss).__name__, getattr(loss, "CONFIG_NODE", "")
    needed = getattr(loss, "REQUIRED_OUTPUTS", ())
    missing = [key for key in needed if outputs.get(key) is None]
    when = "on a batch the mixer acted on" if with_mixer else "although it acts on every batch"
    if missing:
        why = f"these are missing: {', '.join(missing)}"
    else:
        why = "all are present, so it declined the batch for a reason of its own (see its docstring)"
    raise ConfigError(
        f"Loss {name} (MODEL.LOSSES.{node}.ENABLED True) returned no term {when}: it needs the model's outputs "
        f"{', '.join(needed) or '(not declared in REQUIRED_OUTPUTS)'}, and {why}. Turn it off "
        f"(MODEL.LOSSES.{node}.ENABLED False) or use a model or mixer that writes them."
    )
