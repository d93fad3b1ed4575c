from .config import CfgNode, get_cfg, upgrade_config, CURRENT_VERSION

__all__ = ["CfgNode", "get_cfg", "upgrade_config", "CURRENT_VERSION"]
