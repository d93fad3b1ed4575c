from .config import CURRENT_VERSION, CfgNode, get_cfg, setup_cfg, upgrade_config

__all__ = ["CfgNode", "get_cfg", "setup_cfg", "upgrade_config", "CURRENT_VERSION"]
