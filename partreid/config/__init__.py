from .config import CURRENT_VERSION, CfgNode, get_cfg, register_config_upgrade, setup_cfg, upgrade_config
from .configurable import ArgumentError, ConfigArguments, config_arguments, configurable

__all__ = [
    "CfgNode",
    "get_cfg",
    "setup_cfg",
    "upgrade_config",
    "register_config_upgrade",
    "CURRENT_VERSION",
    "ArgumentError",
    "ConfigArguments",
    "config_arguments",
    "configurable",
]
