"""The part baseline with PartMix's training diagnostics."""
import logging

import torch

from partreid.config.configurable import ArgumentError, config_arguments, configurable
from partreid.modeling.meta_arch.build import META_ARCH_REGISTRY
from partreid.modeling.meta_arch.part_baseline import PartBaseline
from partreid.utils import comm
from partreid.utils.events import get_event_storage, has_event_storage

logger = logging.getLogger(__name__)

MIXING_TERMS = ("loss_cont", "loss_aid")


@META_ARCH_REGISTRY.register()
class PartMixBaseline(PartBaseline):
    """PartBaseline whose training steps also report, every `diagnostics_period`
    (PARTMIX.DIAGNOSTICS_PERIOD) iterations while PartMix runs, what the mining chose
    (`PartMix.statistics`) and how hard PartMix pulls on the backbone: the gradient norms of
    L_cont + L_aid and of L_id with respect to the parameters of `diagnostics_module`
    (PARTMIX.DIAGNOSTICS_MODULE). They go into the trainer's storage as partmix/<name>
    (metrics.json) and into the log as one line.

    The gradient norms come from `torch.autograd.grad(..., retain_graph=True)` on the step's own
    graph before the trainer's backward: it accumulates nothing into `.grad` and draws nothing
    from any random stream, so the update is bitwise the one of a step without diagnostics. It is
    skipped in multi-process runs, where DistributedDataParallel owns the backward pass."""

    @configurable
    def __init__(self, *, diagnostics_period: int = 0, diagnostics_module: str = "backbone.layer4", **kwargs):
        """
        Args:
            diagnostics_period: iterations between two diagnostics while PartMix runs (0 = off).
            diagnostics_module: dotted path of the submodule whose gradient norms are compared.
            kwargs: PartBaseline's arguments (backbone, part_head, num_classes, mixer, losses, ...).
        """
        super().__init__(**kwargs)
        if diagnostics_period < 0:
            raise ArgumentError("{diagnostics_period} must be >= 0 (0 = off), got {value}", value=diagnostics_period)
        try:
            module = self.get_submodule(diagnostics_module)
        except AttributeError as e:
            raise ArgumentError(
                "{diagnostics_module}={value!r} is not a submodule of {owner} ({error}); expected a dotted path "
                "such as 'backbone.layer4'",
                value=diagnostics_module, owner=type(self).__name__, error=e,
            ) from e
        self.diagnostics_period = diagnostics_period
        self.diagnostics_module = diagnostics_module
        self._diagnosed_parameters = [p for p in module.parameters() if p.requires_grad]
        if not self._diagnosed_parameters:
            raise ArgumentError("{diagnostics_module}={value!r} has no trainable parameter", value=diagnostics_module)

    @classmethod
    def from_config(cls, cfg):
        arguments = super().from_config(cfg)
        keys = {"diagnostics_period": "PARTMIX.DIAGNOSTICS_PERIOD", "diagnostics_module": "PARTMIX.DIAGNOSTICS_MODULE"}
        arguments.update(config_arguments(cfg, keys))
        return arguments

    def losses_from(self, outputs: dict, batch: dict) -> dict:
        terms = super().losses_from(outputs, batch)
        if self._diagnostics_due(outputs, batch):
            stats = self.mixer.statistics(outputs, self)
            if comm.get_world_size() == 1:
                stats.update(self._gradient_norms(terms))
            storage = get_event_storage()
            for key, value in stats.items():
                storage.put_scalar(f"partmix/{key}", value)
            logger.info(_diagnostics_line(batch["iteration"], stats, self.diagnostics_module))
        return terms

    def _diagnostics_due(self, outputs: dict, batch: dict) -> bool:
        return (
            self.diagnostics_period > 0
            and outputs.get("partmix_positives") is not None
            and "iteration" in batch
            and (batch["iteration"] + 1) % self.diagnostics_period == 0
            and has_event_storage()
        )

    def _gradient_norms(self, terms: dict) -> dict:
        """{"gradnorm_mix", "gradnorm_id", "gradnorm_ratio"} for the (weighted) terms present."""
        norms = {}
        mixing = [terms[k] for k in MIXING_TERMS if k in terms]
        if mixing:
            norms["gradnorm_mix"] = self._gradient_norm(sum(mixing))
        if "loss_id" in terms:
            norms["gradnorm_id"] = self._gradient_norm(terms["loss_id"])
        if "gradnorm_id" in norms and "gradnorm_mix" in norms:
            norms["gradnorm_ratio"] = norms["gradnorm_mix"] / norms["gradnorm_id"].clamp_min(1e-12)
        return norms

    def _gradient_norm(self, loss: torch.Tensor) -> torch.Tensor:
        """A 0-dim tensor (the storage reads it back when it writes)."""
        grads = torch.autograd.grad(loss, self._diagnosed_parameters, retain_graph=True, allow_unused=True)
        squares = [g.detach().float().pow(2).sum() for g in grads if g is not None]
        return torch.stack(squares).sum().sqrt() if squares else loss.new_zeros((), dtype=torch.float32)


def _diagnostics_line(iteration: int, stats: dict, module: str) -> str:
    stats = {key: float(value) for key, value in stats.items()}  # the one read-back of a diagnosed step
    def fmt(key, spec=".3f"):
        return format(stats[key], spec) if key in stats else "-"

    def slots(kind):
        shares = [stats[f"swap_{kind}_slot{m}"] for m in range(len(stats)) if f"swap_{kind}_slot{m}" in stats]
        return "/".join(f"{share:.2f}" for share in shares) or "-"

    line = (
        f"PartMix diagnostics, iter {iteration + 1}: entropy pos {fmt('entropy_pos')} "
        f"(random {fmt('entropy_random_pos')}) neg {fmt('entropy_neg')} (random {fmt('entropy_random_neg')}); "
        f"cosine pos {fmt('cosine_pos')} neg {fmt('cosine_neg')}; near-copies {fmt('near_copy_share', '.1%')}; "
        f"swapped slots pos {slots('pos')} neg {slots('neg')}; same-modality donors pos "
        f"{fmt('pos_intra_share', '.0%')} (of allowed {fmt('pos_intra_share_allowed', '.0%')}) neg "
        f"{fmt('neg_intra_share', '.0%')} (of allowed {fmt('neg_intra_share_allowed', '.0%')})"
    )
    if "gradnorm_id" in stats or "gradnorm_mix" in stats:
        line += (
            f"; |grad| at {module}: L_cont+L_aid {fmt('gradnorm_mix', '.3g')} L_id {fmt('gradnorm_id', '.3g')}"
            f" (ratio {fmt('gradnorm_ratio', '.3g')})"
        )
    return line
