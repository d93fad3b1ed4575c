"""Config object: fvcore's CfgNode (YAML with `_BASE_`) plus versioning and clear errors."""
import ast
import difflib
import importlib
import logging
import os

from fvcore.common.config import CfgNode as _FvCfgNode

logger = logging.getLogger(__name__)

CURRENT_VERSION = 3


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
        cfg_list = list(cfg_list)
        for k in range(0, len(cfg_list), 2):
            node = self
            parts = cfg_list[k].split(".")
            for i, part in enumerate(parts):
                if not isinstance(node, dict) or part not in node:
                    _raise_unknown(".".join(parts[: i + 1]), node, "command line")
                node = node[part]
            if isinstance(node, float) and isinstance(_literal(cfg_list[k + 1]), int):
                cfg_list[k + 1] = repr(float(_literal(cfg_list[k + 1])))
        return super().merge_from_list(cfg_list)


def _raise_unknown(full_key, node, source):
    known = sorted(node.keys()) if isinstance(node, dict) else []
    last = full_key.split(".")[-1]
    close = difflib.get_close_matches(last, known, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise KeyError(
        f"Unknown config key '{full_key}' (from {source}).{hint} Known keys at this level: {', '.join(known)}"
    )


def _literal(text):
    try:
        return ast.literal_eval(text) if isinstance(text, str) else text
    except (ValueError, SyntaxError):
        return text


def _check_keys(loaded, reference, source, prefix=""):
    """Reject unknown keys (naming them) and accept an int where the default is a float
    (YAML's `1` for a float key), which yacs would otherwise refuse."""
    for key, value in loaded.items():
        full = prefix + key
        if key not in reference:
            _raise_unknown(full, reference, source)
        if isinstance(reference[key], float) and isinstance(value, int) and not isinstance(value, bool):
            loaded[key] = float(value)
        if isinstance(value, dict) and isinstance(reference[key], dict):
            _check_keys(value, reference[key], source, full + ".")


def upgrade_config(cfg_dict: dict, from_version: int) -> dict:
    """Upgrade a loaded YAML dict from an older VERSION to CURRENT_VERSION."""
    if from_version > CURRENT_VERSION:
        raise ValueError(
            f"Config VERSION {from_version} is newer than this partreid ({CURRENT_VERSION}); upgrade partreid."
        )
    if from_version < 2:
        # 2: TEST.SYSU.OFFICIAL_DRAWS (bool) became TEST.SYSU.DRAWS ("official" / "seeded").
        sysu = (cfg_dict.get("TEST") or {}).get("SYSU") or {}
        if "OFFICIAL_DRAWS" in sysu:
            sysu["DRAWS"] = "official" if sysu.pop("OFFICIAL_DRAWS") else "seeded"
    if from_version < 3:
        # 3: DATALOADER.PERSISTENT_WORKERS is gone: the endless training loader never ends an
        # epoch, so its workers persist anyway, and the trainer now shuts them down itself.
        (cfg_dict.get("DATALOADER") or {}).pop("PERSISTENT_WORKERS", None)
    return cfg_dict


def get_cfg() -> CfgNode:
    """A fresh copy of the default config (see partreid/config/defaults.py)."""
    from .defaults import _C

    return _C.clone()


def _import_projects(cfg, names):
    for name in names:
        try:
            module = importlib.import_module(name)
        except ImportError as e:
            raise ImportError(
                f"PROJECTS lists '{name}', which cannot be imported ({e}). Install its package "
                "(pip install -e projects/<Name>, see docs/extending/new_project.md) or fix the config's PROJECTS list."
            ) from e
        add_config = getattr(module, "add_config", None)
        if add_config is not None:
            add_config(cfg)


def setup_cfg(config_file: str = "", opts=None, freeze: bool = True) -> CfgNode:
    """get_cfg() + the projects named by the YAML's (or command line's) PROJECTS + the YAML
    + the KEY VALUE overrides. Projects are imported first so their keys and registrations
    exist before the YAML that uses them is merged."""
    cfg = get_cfg()
    opts = list(opts or [])
    projects = []
    if config_file:
        if not os.path.isfile(config_file):
            raise FileNotFoundError(f"Config file {config_file} does not exist.")
        projects += CfgNode.load_yaml_with_base(config_file).get("PROJECTS", []) or []
    if "PROJECTS" in opts[0::2]:
        projects += list(ast.literal_eval(opts[opts.index("PROJECTS") + 1]))
    _import_projects(cfg, list(dict.fromkeys(projects)))
    if config_file:
        cfg.merge_from_file(config_file)
    if opts:
        cfg.merge_from_list(opts)
    if freeze:
        cfg.freeze()
    return cfg
