"""Config object: fvcore's CfgNode (YAML with `_BASE_`) plus versioning and clear errors."""
import difflib
import logging

from fvcore.common.config import CfgNode as _FvCfgNode

logger = logging.getLogger(__name__)

CURRENT_VERSION = 1


class CfgNode(_FvCfgNode):
    """A yacs node whose merges name the offending key and suggest close matches."""

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        loaded = self.load_yaml_with_base(cfg_filename, allow_unsafe=allow_unsafe)
        if not isinstance(loaded, dict):
            raise ValueError(f"Config file {cfg_filename} must hold a YAML mapping, got {type(loaded).__name__}")
        version = loaded.get("VERSION", CURRENT_VERSION)
        loaded = upgrade_config(loaded, version)
        loaded["VERSION"] = CURRENT_VERSION
        _check_keys(loaded, self, cfg_filename)
        self.merge_from_other_cfg(type(self)(loaded))

    def merge_from_list(self, cfg_list):
        if len(cfg_list) % 2:
            raise ValueError(f"Command-line overrides must be KEY VALUE pairs, got an odd list: {cfg_list}")
        for key in cfg_list[0::2]:
            node = self
            parts = key.split(".")
            for i, part in enumerate(parts):
                if not isinstance(node, dict) or part not in node:
                    _raise_unknown(".".join(parts[: i + 1]), node, "command line")
                node = node[part]
        return super().merge_from_list(cfg_list)


def _raise_unknown(full_key, node, source):
    known = sorted(node.keys()) if isinstance(node, dict) else []
    last = full_key.split(".")[-1]
    close = difflib.get_close_matches(last, known, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise KeyError(
        f"Unknown config key '{full_key}' (from {source}).{hint} Known keys at this level: {', '.join(known)}"
    )


def _check_keys(loaded, reference, source, prefix=""):
    for key, value in loaded.items():
        full = prefix + key
        if key not in reference:
            _raise_unknown(full, reference, source)
        if isinstance(value, dict) and isinstance(reference[key], dict):
            _check_keys(value, reference[key], source, full + ".")


def upgrade_config(cfg_dict: dict, from_version: int) -> dict:
    """Upgrade a loaded YAML dict from an older VERSION to CURRENT_VERSION."""
    if from_version > CURRENT_VERSION:
        raise ValueError(
            f"Config VERSION {from_version} is newer than this partreid ({CURRENT_VERSION}); upgrade partreid."
        )
    # No renamed keys yet: version 1 is the first format.
    return cfg_dict


def get_cfg() -> CfgNode:
    """A fresh copy of the default config (see partreid/config/defaults.py)."""
    from .defaults import _C

    return _C.clone()
