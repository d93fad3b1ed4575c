"""A PROJECTS module for the multi-process tests: registers `PooledLinearReid`, a model whose
training step has no batch-statistics coupling between samples (no BatchNorm, no mixer,
one mean cross-entropy), so that DDP over equal shards must reproduce the single-process
step up to float summation order. Imported by name from the YAML's PROJECTS list."""
import torch
import torch.nn as nn
import torch.nn.functional as F

from partreid.modeling.meta_arch.build import META_ARCH_REGISTRY


@META_ARCH_REGISTRY.register()
class PooledLinearReid(nn.Module):
    """Normalised image -> 8x4 average pool -> linear embedding (the features) -> classifier."""

    def __init__(self, cfg):
        super().__init__()
        self.embed = nn.Linear(3 * 8 * 4, 16)
        self.classifier = nn.Linear(16, cfg.MODEL.NUM_CLASSES)
        self.register_buffer("pixel_mean", torch.tensor(cfg.MODEL.PIXEL_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("pixel_std", torch.tensor(cfg.MODEL.PIXEL_STD).view(1, 3, 1, 1), persistent=False)

    def forward(self, batch):
        images = (batch["images"].float() - self.pixel_mean) / self.pixel_std
        features = self.embed(F.adaptive_avg_pool2d(images, (8, 4)).flatten(1))
        if not self.training:
            return features
        return {"loss_id": F.cross_entropy(self.classifier(features), batch["targets"])}
