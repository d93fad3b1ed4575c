"""Config object: fvcore's CfgNode (YAML with `_BASE_`) plus versioning and clear errors."""
import ast
import difflib
import importlib.metadata
import logging
import os

import yaml
from fvcore.common.config import BASE_KEY, CfgNode as _FvCfgNode

from ..utils.errors import ConfigError, ConfigKeyError

logger = logging.getLogger(__name__)

CURRENT_VERSION = 4

# Upgrade steps that installed projects register for their own keys (register_config_upgrade).
_PROJECT_UPGRADES = []


class CfgNode(_FvCfgNode):
    """A yacs node whose merges name the offending key and suggest close matches."""

    def _is_key(self, token) -> bool:
        node = self
        for part in str(token).split("."):
            if not isinstance(node, dict) or part not in node:
                return False
            node = node[part]
        return True

    def _key_without_value(self, cfg_list) -> str:
        """The override of an odd KEY VALUE list that lacks its value: the first key followed by
        another key (or by nothing)."""
        for i in range(0, len(cfg_list), 2):
            if i + 1 == len(cfg_list) or self._is_key(cfg_list[i + 1]):
                return cfg_list[i]
        return cfg_list[-1]

    def merge_from_file(self, cfg_filename: str, allow_unsafe: bool = False) -> None:
        loaded = self.load_yaml_with_base(cfg_filename, allow_unsafe=allow_unsafe)
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config file {cfg_filename} must hold a YAML mapping, got {type(loaded).__name__}")
        version = loaded["VERSION"] if "VERSION" in loaded else guess_version(loaded)
        loaded = upgrade_config(loaded, version, reference=self)
        loaded["VERSION"] = CURRENT_VERSION
        _check_keys(loaded, self, cfg_filename)
        try:
            self.merge_from_other_cfg(type(self)(loaded))
        except ValueError as e:  # yacs: a value of the wrong type, naming the key
            raise ConfigError(f"Config file {cfg_filename}: {e}") from e

    @classmethod
    def load_yaml_with_base(cls, filename: str, allow_unsafe: bool = False):
        """fvcore's load; a `_BASE_` that does not exist is an error naming the file that refers to it."""
        base = _base_of(filename)
        if base is not None:
            resolved = os.path.expanduser(base)
            if not resolved.startswith(("/", "https://", "http://")):
                resolved = os.path.join(os.path.dirname(filename), resolved)
            if not resolved.startswith(("https://", "http://")) and not os.path.isfile(resolved):
                raise ConfigError(f"Config file {filename} has _BASE_: {base}, which does not exist (looked for "
                                  f"{resolved}; a relative _BASE_ is taken from the folder of the file that names it)")
        return super().load_yaml_with_base(filename, allow_unsafe=allow_unsafe)

    def merge_from_list(self, cfg_list):
        if len(cfg_list) % 2:
            raise ConfigError(f"Override {self._key_without_value(cfg_list)} has no value: command-line overrides "
                              f"are KEY VALUE pairs, and these {len(cfg_list)} items are an odd number")
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
        try:
            return super().merge_from_list(cfg_list)
        except ValueError as e:  # yacs: a value of the wrong type, naming the key
            raise ConfigError(f"Command-line override: {e}") from e


def _raise_unknown(full_key, node, source):
    known = sorted(node.keys()) if isinstance(node, dict) else []
    last = full_key.split(".")[-1]
    close = difflib.get_close_matches(last, known, n=3)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    raise ConfigKeyError(
        f"Unknown config key '{full_key}' (from {source}).{hint} Known keys at this level: {', '.join(known)}"
    )


def _base_of(filename: str):
    """The `_BASE_` value of a YAML file, None when it has none or cannot be read here (fvcore's
    own load then reports the problem)."""
    try:
        with open(filename) as f:
            loaded = yaml.safe_load(f)
    except (OSError, yaml.YAMLError):
        return None
    return loaded.get(BASE_KEY) if isinstance(loaded, dict) else None


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


def register_config_upgrade(version: int, upgrade, uses_old_keys=None) -> None:
    """Let a project upgrade its own keys: `upgrade(cfg_dict)` edits a loaded YAML dict older than
    `version` in place, after the core's steps. `uses_old_keys(cfg_dict) -> bool` (optional) says
    whether a YAML without VERSION still uses the keys the step replaces, so that it is upgraded too
    (see guess_version). Registering the same step twice has no effect."""
    step = (version, upgrade, uses_old_keys)
    if step not in _PROJECT_UPGRADES:
        _PROJECT_UPGRADES.append(step)


def _uses_loss_names(cfg_dict: dict) -> bool:
    return "NAMES" in ((cfg_dict.get("MODEL") or {}).get("LOSSES") or {})


def guess_version(cfg_dict: dict) -> int:
    """The VERSION of a loaded YAML dict that does not state one: the version before the newest
    step whose replaced keys it still uses (as detectron2 guesses), else CURRENT_VERSION."""
    checks = [(4, _uses_loss_names)] + [(version, uses) for version, _, uses in _PROJECT_UPGRADES if uses]
    old = [version - 1 for version, uses in checks if uses(cfg_dict)]
    return min(old) if old else CURRENT_VERSION


def upgrade_config(cfg_dict: dict, from_version: int, reference=None) -> dict:
    """Upgrade a loaded YAML dict from an older VERSION to CURRENT_VERSION. `reference`: the config
    it will be merged into (the loss nodes that exist), needed to upgrade MODEL.LOSSES.NAMES."""
    if from_version > CURRENT_VERSION:
        raise ConfigError(
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
    if from_version < 4 and _uses_loss_names(cfg_dict):
        _upgrade_loss_names(cfg_dict, reference if reference is not None else get_cfg())
    for version, upgrade, _ in sorted(_PROJECT_UPGRADES, key=lambda step: step[0]):
        if from_version < version:
            upgrade(cfg_dict)
    return cfg_dict


def _upgrade_loss_names(cfg_dict: dict, reference) -> None:
    """4: the list MODEL.LOSSES.NAMES became one MODEL.LOSSES.<node>.ENABLED switch per loss (the
    node its class names in CONFIG_NODE). Every loss node of `reference` is switched on or off as
    the list says. The terms are now summed in the nodes' declared order; a list in another order
    gives the same losses summed in that order (a warning says so)."""
    from ..modeling.losses.build import LOSS_REGISTRY  # the registry is filled by the model's modules

    losses = cfg_dict["MODEL"]["LOSSES"]
    names = list(losses.pop("NAMES") or [])
    nodes = [key for key, value in reference.MODEL.LOSSES.items() if isinstance(value, dict)]
    wanted = []
    for name in names:
        node = getattr(LOSS_REGISTRY.get(name), "CONFIG_NODE", None) if name in LOSS_REGISTRY else None
        if node not in nodes:
            raise ConfigError(
                f"MODEL.LOSSES.NAMES (a VERSION {CURRENT_VERSION - 1} key, upgraded to MODEL.LOSSES.<node>.ENABLED) "
                f"lists '{name}', which is no registered loss with a node under MODEL.LOSSES (nodes: "
                f"{', '.join(nodes)}). If it lives in a project, list the project in PROJECTS."
            )
        wanted.append(node)
    for node in nodes:
        losses.setdefault(node, {})["ENABLED"] = node in wanted
    declared = [node for node in nodes if node in wanted]
    if declared != wanted:
        logger.warning("MODEL.LOSSES.NAMES %s is upgraded to ENABLED switches; the terms are now summed in the "
                       "declared order of MODEL.LOSSES (%s), not the list's", names, ", ".join(declared))


# Keys that size batches or loaders, checked by check_config when a config is set up: at least 1,
# or at least 0 (0 meaning "the main process" or "derived from the data").
POSITIVE_KEYS = ("DATALOADER.NUM_IDENTITIES", "DATALOADER.NUM_INSTANCES", "TEST.IMS_PER_BATCH", "TEST.RANK_BATCH")
NON_NEGATIVE_KEYS = ("DATALOADER.NUM_WORKERS", "DATALOADER.ITERS_PER_EPOCH")


def check_config(cfg) -> None:
    """Refuse values that cannot work, naming the key, before anything is built or trained."""
    for keys, low, what in ((POSITIVE_KEYS, 1, "a whole number >= 1"), (NON_NEGATIVE_KEYS, 0, "a whole number >= 0")):
        for key in keys:
            node = cfg
            for part in key.split("."):
                node = node[part]
            if isinstance(node, bool) or not isinstance(node, int) or node < low:
                raise ConfigError(f"{key} must be {what}, got {node!r}")
    for entry in cfg.TEST.EXPECTED.RESULTS:
        if not (isinstance(entry, (list, tuple)) and len(entry) == 3 and isinstance(entry[0], str)
                and all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in entry[1:]) and entry[2] >= 0):
            raise ConfigError(f"TEST.EXPECTED.RESULTS entries must be [metric, mean, std >= 0], e.g. "
                              f"[\"sysu_all_single/Rank-1\", 31.2, 2.0]; got {entry!r}")


def get_cfg() -> CfgNode:
    """A fresh copy of the default config (see partreid/config/defaults.py)."""
    from .defaults import _C

    return _C.clone()


# The entry-point group through which an installed package declares itself a partreid project:
# [project.entry-points."partreid.projects"] <name> = "<module>" in its pyproject.toml.
PROJECTS_ENTRY_POINT_GROUP = "partreid.projects"


def installed_projects() -> dict:
    """{name: entry point} of the installed packages that declare themselves partreid projects."""
    return {ep.name: ep for ep in importlib.metadata.entry_points(group=PROJECTS_ENTRY_POINT_GROUP)}


def _import_projects(cfg, names):
    """Import each project named in PROJECTS and call its add_config(cfg). Only installed packages
    that declare themselves partreid projects are imported: a config cannot make partreid import
    an arbitrary module."""
    if not names:
        return
    installed = installed_projects()
    for name in names:
        if name not in installed:
            raise ConfigError(
                f"PROJECTS lists '{name}', which is not an installed partreid project (installed: "
                f"{', '.join(sorted(installed)) or 'none'}). Install its package (pip install -e projects/<Name>); "
                f"its pyproject.toml declares it under [project.entry-points.\"{PROJECTS_ENTRY_POINT_GROUP}\"] "
                "(see docs/extending/new_project.md)."
            )
        try:
            module = installed[name].load()
        except ImportError as e:
            raise ConfigError(
                f"PROJECTS lists '{name}', an installed partreid project whose module {installed[name].value} cannot "
                f"be imported ({e}); reinstall its package (pip install -e projects/<Name>)."
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
    check_config(cfg)
    if freeze:
        cfg.freeze()
    return cfg
