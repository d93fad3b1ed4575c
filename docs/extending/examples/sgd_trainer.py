"""A fork's trainer: DefaultTrainer with its own optimizer (docs/extending/trainer.md)."""
import torch

from partreid.engine import DefaultTrainer


class MyTrainer(DefaultTrainer):
    @classmethod
    def build_optimizer(cls, cfg, model):
        return torch.optim.SGD(model.parameters(), lr=cfg.SOLVER.BASE_LR, momentum=0.9)


def demo(cfg, model):
    """The optimizer MyTrainer would train `model` with."""
    return MyTrainer.build_optimizer(cfg, model)
