from .defaults import DefaultTrainer, default_argument_parser, default_setup, setup_cfg
from .launch import launch
from .train_loop import HookBase, SimpleTrainer, TrainerBase

__all__ = ["DefaultTrainer", "default_argument_parser", "default_setup", "setup_cfg", "launch", "HookBase",
           "SimpleTrainer", "TrainerBase"]
