"""Components that are built from a config or from plain keyword arguments.

A registered component (backbone, part head, loss, mixer, ...) takes explicit, documented
keyword arguments in `__init__`, decorated with `@configurable`, and says in a `from_config`
classmethod how a config maps to them::

    class PartDetector(nn.Module):
        @configurable
        def __init__(self, *, in_channels, num_parts=6):
            ...

        @classmethod
        def from_config(cls, cfg, in_channels):
            return config_arguments(cfg, {"num_parts": "MODEL.PART_HEAD.NUM_PARTS"}, in_channels=in_channels)

    PartDetector(cfg, in_channels=512)            # what the registries do: from_config, then __init__
    PartDetector(in_channels=512, num_parts=4)    # a notebook or another codebase: __init__ directly

A call is "from a config" when its first argument (or `cfg=`) is a yacs CfgNode; the other
arguments then go to `from_config`, never to `__init__`, so one call cannot mix both styles.

Bad values are reported by raising `ArgumentError` in `__init__`, with the arguments written as
{placeholders}: built from keyword arguments the message names the argument (`num_parts=0`),
built from a config it names the key the argument was read from (`MODEL.PART_HEAD.NUM_PARTS=0`),
which `config_arguments` records.
"""
import functools
import inspect
import string
from typing import Dict, Mapping, Optional

from yacs.config import CfgNode

from ..utils.errors import ConfigKeyError, UserError

__all__ = ["ArgumentError", "ConfigArguments", "config_arguments", "configurable"]


class ArgumentError(UserError, ValueError):
    """A constructor argument with a value the component cannot use.

    `template` is a str.format string. A field that is one of `values` is filled with that value
    (formatted by str.format, so a value may hold any text); every other field names an argument,
    and reads as the argument's name, or as its config key once `configurable` has renamed it::

        ArgumentError("{pooling}={value!r}: expected one of {choices}", value="max", choices=POOLINGS)
        ArgumentError("{inter} and {intra} are both False: the mixer would have no donor")
    """

    def __init__(self, template: str, **values):
        self.template = template
        self.values = values
        self.arguments = [
            field for _, field, _, _ in string.Formatter().parse(template) if field and field not in values
        ]
        self.renamed = False
        super().__init__(self._message({}))

    def _message(self, keys: Mapping[str, str]) -> str:
        labels = {argument: keys.get(argument, argument) for argument in self.arguments}
        return self.template.format(**labels, **self.values)

    def name_config_keys(self, keys: Mapping[str, str]) -> None:
        """Name the arguments that were read from a config by their keys (once: an error already
        renamed by an inner component keeps its keys)."""
        if not self.renamed:
            self.args = (self._message(keys),)
            self.renamed = True


class ConfigArguments(dict):
    """What `from_config` returns: the keyword arguments of `__init__` (it is a dict) plus, in
    `config_keys`, the config key of each argument read from one. `update` keeps the keys of
    another ConfigArguments, so a subclass can extend its parent's::

        arguments = super().from_config(cfg)
        arguments.update(config_arguments(cfg, {"period": "MYPROJECT.DIAGNOSTICS_PERIOD"}))
    """

    def __init__(self, values=(), config_keys: Optional[Mapping[str, str]] = None):
        super().__init__(values)
        self.config_keys: Dict[str, str] = dict(config_keys or {})

    def update(self, other=(), **values) -> None:
        super().update(other, **values)
        self.config_keys.update(getattr(other, "config_keys", {}))


def config_arguments(cfg, keys: Mapping[str, str], **values) -> ConfigArguments:
    """{argument: cfg value} for each `argument: "DOTTED.KEY"` of `keys`, plus `values` as they
    are (arguments that come from elsewhere, or are computed from several keys)."""
    read = {argument: _lookup(cfg, key) for argument, key in keys.items() if argument not in values}
    return ConfigArguments({**read, **values}, {argument: keys[argument] for argument in read})


def _lookup(cfg, key: str):
    node = cfg
    for depth, part in enumerate(key.split(".")):
        if not isinstance(node, Mapping) or part not in node:
            raise ConfigKeyError(
                f"The config has no key {'.'.join(key.split('.')[: depth + 1])} (needed for {key}); a project's "
                "keys exist only once its add_config has run (list it in the config's PROJECTS)"
            )
        node = node[part]
    return node


def configurable(init):
    """Decorate a component's `__init__` so that `Cls(cfg, ...)` builds it through
    `Cls.from_config(cfg, ...)` and `Cls(**kwargs)` calls `__init__` as it is. See the module
    docstring; `__init__` itself must not take a `cfg` argument."""
    signature = inspect.signature(init)
    if "cfg" in signature.parameters:
        raise TypeError(
            f"@configurable {init.__qualname__} takes a 'cfg' argument: a configurable __init__ takes "
            "explicit arguments, and from_config(cls, cfg, ...) maps a config to them"
        )
    parameters = list(signature.parameters.values())[1:]  # without self

    @functools.wraps(init)
    def wrapped(self, *args, **kwargs):
        name = type(self).__name__
        if args and isinstance(args[0], CfgNode):
            cfg, args = args[0], args[1:]
        elif isinstance(kwargs.get("cfg"), CfgNode):
            cfg = kwargs.pop("cfg")
        else:
            problem = _call_problem(parameters, args, kwargs)
            if problem:
                usage = _usage(name, parameters, wrapped, self)
                raise TypeError(f"{name}({_describe(args, kwargs)}) {problem}. {usage}")
            return init(self, *args, **kwargs)

        from_config = _from_config(wrapped, self)
        if from_config is None:
            raise TypeError(f"{name} has no from_config classmethod, so it cannot be built from a config. "
                            f"{_usage(name, parameters, wrapped, self)}")
        problem = _call_problem(_parameters_after_cfg(from_config), args, kwargs)
        if problem:
            described = _describe(args, kwargs)
            raise TypeError(f"{name}(cfg{', ' if described else ''}{described}) {problem}. "
                            f"{_usage(name, parameters, wrapped, self)}")
        arguments = from_config(cfg, *args, **kwargs)
        if not isinstance(arguments, Mapping):
            raise TypeError(
                f"{name}.from_config returned a {type(arguments).__name__}; expected a dict of __init__'s arguments"
            )
        problem = _call_problem(parameters, (), arguments)
        if problem:
            raise TypeError(f"{name}.from_config returned arguments that do not fit __init__, which {problem}")
        try:
            init(self, **arguments)
        except ArgumentError as err:
            err.name_config_keys(getattr(arguments, "config_keys", {}))
            raise

    return wrapped


def _from_config(wrapped, obj):
    """The from_config that goes with this decorated __init__: that of the most derived class of
    `obj` whose __init__ it is (a subclass with its own plain __init__ that calls
    super().__init__(cfg) gets its parent's; one that only overrides from_config gets its own)."""
    owner = next((k for k in type(obj).__mro__ if getattr(k, "__init__", None) is wrapped), type(obj))
    from_config = getattr(owner, "from_config", None)
    if from_config is not None and not (inspect.ismethod(from_config) and from_config.__self__ is owner):
        raise TypeError(f"{owner.__name__}.from_config must be a classmethod")
    return from_config


def _call_problem(parameters, args, kwargs) -> str:
    """What is wrong with calling a function of these parameters with (args, kwargs), or ""."""
    kinds = inspect.Parameter
    positional = [p for p in parameters if p.kind in (kinds.POSITIONAL_ONLY, kinds.POSITIONAL_OR_KEYWORD)]
    named = {p.name for p in parameters if p.kind not in (kinds.POSITIONAL_ONLY, kinds.VAR_POSITIONAL)}
    takes_more_positional = any(p.kind is kinds.VAR_POSITIONAL for p in parameters)
    takes_more_named = any(p.kind is kinds.VAR_KEYWORD for p in parameters)
    filled = {p.name for p in positional[: len(args)]}
    problems = []
    if len(args) > len(positional) and not takes_more_positional:
        if positional:
            problems.append(f"takes at most {len(positional)} positional arguments (got {len(args)})")
        else:
            problems.append(f"takes its arguments by name only (got {len(args)} positional)")
    twice = sorted(filled & set(kwargs))
    if twice:
        problems.append(f"got {', '.join(twice)} both by position and by name")
    unknown = [] if takes_more_named else [k for k in kwargs if k not in named]
    if unknown:
        problems.append(f"takes no argument {', '.join(unknown)}")
    missing = [
        p.name for p in parameters
        if p.default is p.empty and p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
        and p.name not in filled and p.name not in kwargs
    ]
    if missing:
        problems.append(f"is missing {', '.join(missing)}")
    return "; ".join(problems)


def _parameters_after_cfg(from_config) -> list:
    return list(inspect.signature(from_config).parameters.values())[1:]


def _usage(name: str, parameters, wrapped, obj) -> str:
    """How the class is built: from a config (when it has a from_config) or from keyword arguments."""
    kinds = inspect.Parameter
    explicit = ", ".join(
        p.name + ("=..." if p.default is not p.empty or p.kind is kinds.KEYWORD_ONLY else "")
        for p in parameters if p.kind not in (kinds.VAR_POSITIONAL, kinds.VAR_KEYWORD)
    )
    if any(p.kind is kinds.VAR_KEYWORD for p in parameters):
        explicit += ", **those of its base class" if explicit else "**those of its base class"
    from_config = _from_config(wrapped, obj)
    if from_config is None:
        return f"Build it from its arguments: {name}({explicit})"
    from_cfg = "".join(f", {p.name}" for p in _parameters_after_cfg(from_config))
    return (f"Build it from a config, {name}(cfg{from_cfg}), or from its arguments, {name}({explicit}); "
            "not a mix of the two")


def _describe(args, kwargs) -> str:
    return ", ".join([type(a).__name__ for a in args] + [f"{k}=..." for k in kwargs])
