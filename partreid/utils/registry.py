"""Registry lookups that fail with the list of registered names."""
from fvcore.common.registry import Registry

from .errors import ConfigKeyError


def get_registered(registry: Registry, name: str, key: str = ""):
    """Return the object registered under `name`, or raise a KeyError naming the config
    key and every registered name (fvcore's own message does not list them)."""
    if name not in registry:
        known = ", ".join(sorted(name for name, _ in registry)) or "(none)"
        where = f" (config key {key})" if key else ""
        raise ConfigKeyError(
            f"No object named '{name}' in the {registry._name} registry{where}. Registered: {known}. "
            "If it lives in a project, list the project's module in the config's PROJECTS key (or import it) before "
            "building."
        )
    return registry.get(name)
