"""The part-based VI-ReID baseline (MPANet-style) that PartMix and the other mixers plug into."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from ...utils.events import get_event_storage, has_event_storage
from ..backbone import build_backbone
from ..losses import build_losses
from ..mixers import build_mixer
from ..part_heads import build_part_head
from .build import META_ARCH_REGISTRY


@META_ARCH_REGISTRY.register()
class PartBaseline(nn.Module):
    """backbone -> part head -> d = [p_1..p_M, g] -> BN-neck -> classifiers.

    Metric losses read the pre-BN d, classifiers the BN-necked d, retrieval uses the BN-necked d
    (BNNeck, Luo et al. 2019; the neck's bias is frozen at 0 as in MPANet). Three bias-free
    classifiers: C (shared identity), C_v and C_r (modality-specific), plus EMA "mean" copies of
    C_v and C_r kept as buffers (checkpointed, never optimised) for the modality learning loss.
    """

    def __init__(self, cfg):
        super().__init__()
        num_classes = cfg.MODEL.NUM_CLASSES
        if num_classes <= 0:
            raise ValueError(
                f"MODEL.NUM_CLASSES={num_classes}: set it to the number of training identities "
                "(the engine fills it from the training dataset when it is 0; set it yourself when building "
                "a model outside the engine)"
            )
        momentum = cfg.MODEL.CLASSIFIER.MEAN_MOMENTUM
        if not 0.0 <= momentum <= 1.0:
            raise ValueError(f"MODEL.CLASSIFIER.MEAN_MOMENTUM={momentum!r}: expected a value in [0, 1]")
        if len(cfg.MODEL.PIXEL_MEAN) != 3 or len(cfg.MODEL.PIXEL_STD) != 3:
            raise ValueError(
                f"MODEL.PIXEL_MEAN={list(cfg.MODEL.PIXEL_MEAN)} / MODEL.PIXEL_STD={list(cfg.MODEL.PIXEL_STD)}: "
                "expected 3 values each (RGB, 0..255 scale)"
            )
        self.mean_momentum = momentum
        self.channels_last = cfg.MODEL.CHANNELS_LAST
        self.mixer_start_epoch = cfg.MODEL.MIXER.START_EPOCH
        self.mixer_prob = cfg.MODEL.MIXER.PROB

        self.backbone = build_backbone(cfg)
        self.part_head = build_part_head(cfg, self.backbone.out_channels)
        self.num_parts = cfg.MODEL.PART_HEAD.NUM_PARTS
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

        self.mixer = build_mixer(cfg)
        self.losses = build_losses(cfg)
        # Losses that are modules (with or without parameters) follow the model's device and state.
        self.loss_modules = nn.ModuleList(loss for loss in self.losses if isinstance(loss, nn.Module))

        self.register_buffer("pixel_mean", torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1), persistent=False)
        if self.channels_last:
            self.backbone.to(memory_format=torch.channels_last)

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
        head["descriptors"] = torch.cat([head["part_descriptors"].reshape(b, -1), head["global_descriptor"]], dim=1)
        return head

    def forward(self, batch: dict):
        images = self.preprocess(batch["images"])
        if not self.training:
            return self.bn_neck(self.describe(images)["descriptors"])
        return self.losses_from(self.training_outputs(images, batch), batch)

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
        self._update_mean_classifiers()
        with torch.no_grad():
            mean_logits_visible = F.linear(bn_descriptors, self.mean_classifier_visible)
            mean_logits_infrared = F.linear(bn_descriptors, self.mean_classifier_infrared)
        outputs.update(
            bn_descriptors=bn_descriptors,
            logits=self.classifier(bn_descriptors),
            logits_visible=self.classifier_visible(bn_descriptors),
            logits_infrared=self.classifier_infrared(bn_descriptors),
            mean_logits_visible=mean_logits_visible,
            mean_logits_infrared=mean_logits_infrared,
            targets=batch["targets"].to(self.device, non_blocking=True),
            modalities=batch["modalities"].to(self.device, non_blocking=True),
            mixed_targets=mixed_targets,
        )
        if mixed_targets is None:
            _record_training_accuracy(outputs["logits"], outputs["targets"])
        if mixer is not None:
            outputs.update(mixer.mix_descriptors(outputs, batch, self))
        return outputs

    def losses_from(self, outputs: dict, batch: dict) -> dict:
        terms = {}
        for loss in self.losses:
            for name, value in loss(outputs, batch).items():
                if name in terms:
                    raise KeyError(f"Loss term '{name}' is returned by two entries of MODEL.LOSSES.NAMES")
                terms[name] = value
        return terms

    def _active_mixer(self, batch: dict):
        """The mixer when it acts on this batch: from MODEL.MIXER.START_EPOCH on, with
        probability MODEL.MIXER.PROB (drawn from the mixer's seeded stream)."""
        if batch["epoch"] < self.mixer_start_epoch:
            return None
        if "iteration" in batch:
            self.mixer.reseed(batch["iteration"])
        if self.mixer_prob < 1.0 and torch.rand((), generator=self.mixer.generator).item() >= self.mixer_prob:
            return None
        return self.mixer

    @torch.no_grad()
    def _update_mean_classifiers(self) -> None:
        """mean <- m * mean + (1 - m) * current, once per training step, before the mean
        classifiers are used (MPANet's order)."""
        m = self.mean_momentum
        self.mean_classifier_visible.mul_(m).add_(self.classifier_visible.weight.detach(), alpha=1 - m)
        self.mean_classifier_infrared.mul_(m).add_(self.classifier_infrared.weight.detach(), alpha=1 - m)

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


@torch.no_grad()
def _record_training_accuracy(logits: torch.Tensor, targets: torch.Tensor) -> None:
    """Put "train/id_acc", the percentage of the batch the identity classifier C gets right, into
    the trainer's storage (metrics.json): how far the model has fit its training identities.
    Clean batches only: an image- or feature-mixed batch has no single right label."""
    if has_event_storage():
        correct = (logits.argmax(dim=1) == targets).float().mean().item()
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
