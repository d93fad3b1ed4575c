from .config import CURRENT_VERSION, CfgNode, get_cfg, setup_cfg, upgrade_config
from .configurable import ArgumentError, ConfigArguments, config_arguments, configurable

__all__ = [
    "CfgNode",
    "get_cfg",
    "setup_cfg",
    "upgrade_config",
    "CURRENT_VERSION",
    "ArgumentError",
    "ConfigArguments",
    "config_arguments",
    "configurable",
]
