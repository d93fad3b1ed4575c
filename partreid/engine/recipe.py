"""The recipe card: what a config trains, in the numbers that decide a result, each with its source.

`tools/train_net.py --config-file CFG --print-recipe` prints it without training, and every
training log starts with it. Each line names the config keys it reads; its source is the
`# source:` comment on those keys in the config file or its `_BASE_` chain:

    SOLVER:
      # source: paper (supplementary C): 20 warm-up epochs + 100 epochs with every loss.
      MAX_EPOCHS: 120
      STEPS: [80, 120]  # source: paper (supplementary C) and MPANet code (configs/SYSU.yml:37)

A comment applies to the key on its line, or to the next key when it stands alone (continued on
the following `#` lines); a source on a node (e.g. `RANDOM_ERASING:`) covers its children; a
file overrides its base's source for the same key, and a command-line override makes the source
"command line". Keys no file sources show "partreid default" or "config, no source given".

A project adds its own lines by registering a function `(cfg, context) -> [RecipeLine]` in
RECIPE_LINE_REGISTRY (`context` holds the dataset and the EpochSchedule).
"""
import math
import os
import re
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import yaml
from fvcore.common.registry import Registry

from ..config import get_cfg
from ..data import build_dataset, epoch_lengths
from ..data.build import SAMPLER_REGISTRY
from ..evaluation.build import EVALUATOR_REGISTRY
from ..modeling.losses.build import LOSS_REGISTRY, enabled_loss_names
from ..solver import EpochSchedule
from ..utils.registry import get_registered

RECIPE_LINE_REGISTRY = Registry("RECIPE_LINE")
RECIPE_LINE_REGISTRY.__doc__ = """
Functions `(cfg, context: RecipeContext) -> List[RecipeLine]` that add a project's lines to the
recipe card (after the core's). Registering one is how a method project states its own recipe.
"""

NO_SOURCE = "config, no source given"
_SOURCE = re.compile(r"#\s*source:\s*(.*)$")
_KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][A-Za-z0-9_]*)\s*:(.*)$")


@dataclass
class RecipeLine:
    """One line of the card: `item` (what), `value` (the numbers), `keys` (the config keys it
    reads, whose sources become the line's)."""

    item: str
    value: str
    keys: Sequence[str] = ()


@dataclass
class RecipeContext:
    """What the card's lines are computed from."""

    dataset: object
    schedule: EpochSchedule
    test_dataset: object = None


def build_epoch_schedule(cfg, dataset) -> EpochSchedule:
    """The run's EpochSchedule: the training sampler's epoch lengths over SOLVER.MAX_EPOCHS."""
    return EpochSchedule.from_epoch_lengths(epoch_lengths(cfg, dataset), cfg.SOLVER.MAX_EPOCHS)


def _config_chain(config_file: str) -> List[str]:
    """`config_file` and its _BASE_ files, base first."""
    chain, path = [], config_file
    while path:
        if path in chain:
            raise ValueError(f"{config_file}: _BASE_ files form a cycle through {path}")
        chain.insert(0, path)
        with open(path) as f:
            base = (yaml.safe_load(f) or {}).get("_BASE_")
        path = os.path.normpath(os.path.join(os.path.dirname(path), base)) if base else ""
    return chain


def _file_sources(path: str) -> Dict[str, Optional[str]]:
    """{DOTTED.KEY: source or None} of every key one YAML file sets to a value (None: set
    without a `# source:` comment), and of every node a `# source:` comment stands on."""
    sources: Dict[str, Optional[str]] = {}
    stack: List[tuple] = []  # (indent, key) of the enclosing keys
    pending: List[str] = []  # a standalone source comment and its continuation lines
    with open(path) as f:
        for raw in f:
            line = raw.rstrip("\n")
            stripped = line.strip()
            if stripped.startswith("#"):
                match = _SOURCE.match(stripped)
                if match:
                    pending = [match.group(1).strip()]
                elif pending:
                    pending.append(stripped.lstrip("#").strip())
                continue
            key_line = _KEY_LINE.match(line)
            if not key_line or stripped.startswith("-"):
                pending = []  # a source comment stands right above its key
                continue
            indent, key, rest = len(key_line.group(1)), key_line.group(2), key_line.group(3)
            while stack and stack[-1][0] >= indent:
                stack.pop()
            stack.append((indent, key))
            dotted = ".".join(k for _, k in stack)
            inline = _SOURCE.search(rest)
            if inline:
                sources[dotted] = inline.group(1).strip()
            elif pending:
                sources[dotted] = " ".join(p for p in pending if p)
            elif rest.split("#", 1)[0].strip() and dotted != "_BASE_" and not any(
                    sources.get(".".join(k for _, k in stack[:depth])) for depth in range(1, len(stack))):
                sources[dotted] = None  # a value without a source of its own or of an enclosing node
            pending = []
    return sources


def config_sources(config_file: str) -> Dict[str, str]:
    """{DOTTED.KEY: source} over `config_file`'s _BASE_ chain. A file that sets a key overrides
    its base's source for it: with its own `# source:`, or as "config, no source given (file)",
    so that a base's source never stands beside a value the base did not set."""
    sources: Dict[str, str] = {}
    for path in _config_chain(config_file) if config_file else []:
        for key, source in _file_sources(path).items():
            sources[key] = source if source is not None else f"{NO_SOURCE} ({os.path.basename(path)})"
    return sources


class _SourceResolver:
    def __init__(self, cfg, config_file: str, opts: Sequence[str]):
        self.cfg = cfg
        self.sources = config_sources(config_file)
        self.overridden = set(list(opts)[0::2])
        self.defaults = get_cfg()

    def _value(self, node, key: str):
        for part in key.split("."):
            if not hasattr(node, "get") or part not in node:
                return None
            node = node[part]
        return node

    def of_key(self, key: str) -> str:
        if key in self.overridden:
            return "command line"
        parts = key.split(".")
        for depth in range(len(parts), 0, -1):
            found = self.sources.get(".".join(parts[:depth]))
            if found:
                return found
        default = self._value(self.defaults, key)
        if default is not None and default == self._value(self.cfg, key):
            return "partreid default"
        return NO_SOURCE

    def of_line(self, keys: Sequence[str]) -> str:
        found = list(dict.fromkeys(self.of_key(k) for k in keys))
        # a key left at partreid's default says nothing beside sourced ones; an unsourced value
        # a config file set is shown, so a line's sources never vouch for a value they did not give
        sourced = [s for s in found if s != "partreid default"]
        return "; ".join(sourced or found) or "derived"


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_fmt(v) for v in value) + "]"
    return str(value)


def _epoch_line(cfg, context: RecipeContext) -> RecipeLine:
    schedule, dataset = context.schedule, context.dataset
    sampler = cfg.DATALOADER.SAMPLER
    data = f"{len(dataset.train)} training images of {dataset.num_train_pids} identities"
    if cfg.DATALOADER.ITERS_PER_EPOCH > 0:
        how = f"{schedule.iters_per_epoch} iterations/epoch, pinned by DATALOADER.ITERS_PER_EPOCH"
        return RecipeLine("epoch", how, ["DATALOADER.ITERS_PER_EPOCH"])
    own = getattr(get_registered(SAMPLER_REGISTRY, sampler, "DATALOADER.SAMPLER"), "epoch_lengths", None)
    if own is not None and own(cfg, dataset.train, 1) is not None:
        lengths = schedule.epoch_lengths[: math.ceil(schedule.max_epochs)] or [schedule.iters_per_epoch] * 5
        how = (f"{sampler} sizes the epochs (DATALOADER.PASS_EPOCH {cfg.DATALOADER.PASS_EPOCH}): "
               f"{min(lengths)}-{max(lengths)} iterations (mean {schedule.iters_per_epoch}; first epochs "
               f"{', '.join(map(str, lengths[:5]))}), from SEED {cfg.SEED} and {data}")
        return RecipeLine("epoch", how, ["DATALOADER.ITERS_PER_EPOCH", "DATALOADER.PASS_EPOCH"])
    how = f"{schedule.iters_per_epoch} iterations/epoch: images of the smaller modality // (P*K/2), {data}"
    return RecipeLine("epoch", how, ["DATALOADER.ITERS_PER_EPOCH"])


def _lr_line(cfg, schedule: EpochSchedule) -> RecipeLine:
    s = cfg.SOLVER
    parts = [f"{s.OPTIMIZER}, base LR {s.BASE_LR:g}, weight decay {s.WEIGHT_DECAY:g}"]
    warmup = schedule.iters(s.WARMUP_EPOCHS)
    if warmup:
        parts.append(f"linear warm-up from x{s.WARMUP_FACTOR:g} over {warmup} iterations")
    keys = ["SOLVER.OPTIMIZER", "SOLVER.BASE_LR", "SOLVER.WEIGHT_DECAY", "SOLVER.LR_SCHEDULER_NAME",
            "SOLVER.WARMUP_EPOCHS"]
    if s.LR_SCHEDULER_NAME == "WarmupMultiStepLR":
        factor = 1.0
        for epoch in sorted(s.STEPS):
            iteration = schedule.iters(epoch)
            if iteration >= schedule.max_iter:
                parts.append(f"step at epoch {_fmt(epoch)} = iteration {iteration}: at or after the end, no effect")
                continue
            factor *= s.GAMMA
            parts.append(f"epoch {_fmt(epoch)} = iteration {iteration}: LR {s.BASE_LR * factor:.3g}")
        keys += ["SOLVER.STEPS", "SOLVER.GAMMA"]
    else:
        parts.append(f"{s.LR_SCHEDULER_NAME} to x{s.COSINE_END_FACTOR:g} at iteration {schedule.max_iter}")
        keys.append("SOLVER.COSINE_END_FACTOR")
    return RecipeLine("optimizer and LR", "; ".join(parts), keys)


def _loss_lines(cfg, schedule: EpochSchedule) -> List[RecipeLine]:
    """One line per enabled loss, in the order its terms are summed: its settings, and when it acts
    (a loss class with ACTIVE_WITH_MIXER = True acts on mixed samples only, so from
    MODEL.MIXER.START_EPOCH on)."""
    lines = []
    for name in enabled_loss_names(cfg):
        loss_cls = LOSS_REGISTRY.get(name)
        arguments = loss_cls.from_config(cfg)
        keys = list(getattr(arguments, "config_keys", {}).values())
        values = ", ".join(f"{k} {_fmt(v)}" for k, v in arguments.items())
        detached = " (part maps detached)" if name in cfg.MODEL.LOSSES.DETACH_MAPS else ""
        loss_keys = [f"MODEL.LOSSES.{loss_cls.CONFIG_NODE}.ENABLED", *keys]
        if getattr(loss_cls, "ACTIVE_WITH_MIXER", False):
            start = schedule.iters(cfg.MODEL.MIXER.START_EPOCH)
            when = f"with the mixer, from epoch {_fmt(cfg.MODEL.MIXER.START_EPOCH)} = iteration {start}"
            loss_keys.append("MODEL.MIXER.START_EPOCH")
        else:
            when = "from iteration 0"
        lines.append(RecipeLine(f"loss {name}", f"{values or 'no settings'}{detached}; on {when}", loss_keys))
    return lines


def _evaluation_lines(cfg, context: RecipeContext) -> List[RecipeLine]:
    dataset = context.test_dataset or context.dataset
    name = cfg.TEST.EVALUATOR or dataset.default_evaluator
    evaluator_cls = get_registered(EVALUATOR_REGISTRY, name, "TEST.EVALUATOR")
    arguments = evaluator_cls.from_config(cfg, dataset)
    keys = list(getattr(arguments, "config_keys", {}).values())
    protocol = ", ".join(f"{k} {_fmt(v)}" for k, v in arguments.items() if k in arguments.config_keys)
    lines = [RecipeLine("evaluation protocol", f"{name} on {cfg.DATASETS.TEST}: {protocol}", ["TEST.EVALUATOR", *keys])]
    evaluator = evaluator_cls(cfg, dataset)
    if callable(getattr(evaluator, "draw_name", None)):
        shots = arguments.get("shots", (1,))
        draws = ", ".join(f"{s} shot(s): {evaluator.draw_name(s)}" for s in shots)
        lines.append(RecipeLine("gallery draws", draws, [k for k in keys if k.endswith("DRAWS")]))
    period = context.schedule.period(cfg.TEST.EVAL_PERIOD)
    when = f"every {period} iterations and after the last" if period else "after the last iteration"
    lines.append(RecipeLine("evaluation schedule", f"{when}; model_best.pth by {cfg.TEST.BEST_METRIC}",
                            ["TEST.EVAL_PERIOD", "TEST.BEST_METRIC"]))
    return lines


def _ema_line(cfg, schedule: EpochSchedule) -> RecipeLine:
    c = cfg.MODEL.CLASSIFIER
    value = f"mean modality classifiers, EMA rate {1 - c.MEAN_MOMENTUM:g}"
    if c.MEAN_RATE_DECAY > 0:
        first = max(0, math.ceil(c.MEAN_RATE_DECAY - 1))  # the first epoch with MEAN_RATE_DECAY / (epoch + 2) < 1
        value += (f", x min(1, {c.MEAN_RATE_DECAY:g} / (epoch + 2)): shrinking from epoch {first} = iteration "
                  f"{schedule.iters(first)}")
    return RecipeLine("classifier EMA", value, ["MODEL.CLASSIFIER.MEAN_MOMENTUM", "MODEL.CLASSIFIER.MEAN_RATE_DECAY"])


def core_lines(cfg, context: RecipeContext) -> List[RecipeLine]:
    schedule = context.schedule
    batch = cfg.DATALOADER.NUM_IDENTITIES * cfg.DATALOADER.NUM_INSTANCES
    e = cfg.INPUT.RANDOM_ERASING
    max_aspect = e.MAX_ASPECT or 1.0 / e.MIN_ASPECT
    erasing = (f"random erasing p {e.PROB:g}, area {_fmt(list(e.AREA_RANGE))}, aspect [{e.MIN_ASPECT:g}, "
               f"{max_aspect:.3g}], {e.ATTEMPTS} attempts, fill {e.FILL}") if e.ENABLED else "no random erasing"
    mixer = cfg.MODEL.MIXER
    mixer_value = ("none (NoMix)" if mixer.NAME == "NoMix" else
                   f"{mixer.NAME} from epoch {_fmt(mixer.START_EPOCH)} = iteration {schedule.iters(mixer.START_EPOCH)}, "
                   f"on a batch with probability {mixer.PROB:g}")
    backbone, head = cfg.MODEL.BACKBONE, cfg.MODEL.PART_HEAD
    return [
        RecipeLine("data", f"train {cfg.DATASETS.TRAIN}, test {cfg.DATASETS.TEST}, SEED {cfg.SEED}",
                   ["DATASETS.TRAIN", "DATASETS.TEST", "SEED"]),
        _epoch_line(cfg, context),
        RecipeLine("length", f"{_fmt(cfg.SOLVER.MAX_EPOCHS)} epochs = {schedule.max_iter} iterations x {batch} images "
                   f"= {schedule.max_iter * batch} images seen", ["SOLVER.MAX_EPOCHS"]),
        RecipeLine("sampler", f"{cfg.DATALOADER.SAMPLER}, {cfg.DATALOADER.NUM_IDENTITIES} identities x "
                   f"{cfg.DATALOADER.NUM_INSTANCES} images = {batch} per batch",
                   ["DATALOADER.SAMPLER", "DATALOADER.NUM_IDENTITIES", "DATALOADER.NUM_INSTANCES"]),
        _lr_line(cfg, schedule),
        *_loss_lines(cfg, schedule),
        _ema_line(cfg, schedule),
        RecipeLine("mixer", mixer_value, ["MODEL.MIXER.NAME", "MODEL.MIXER.START_EPOCH", "MODEL.MIXER.PROB"]),
        RecipeLine("model", f"{cfg.MODEL.META_ARCHITECTURE}: {backbone.NAME}-{backbone.DEPTH} last stride "
                   f"{backbone.LAST_STRIDE}, modality alleviation after stages {_fmt(list(backbone.MODALITY_ALLEVIATION))}, "
                   f"{head.NAME} with {head.NUM_PARTS} parts, weights {backbone.PRETRAIN_PATH or 'random'}",
                   ["MODEL.META_ARCHITECTURE", "MODEL.BACKBONE", "MODEL.PART_HEAD.NAME", "MODEL.PART_HEAD.NUM_PARTS"]),
        RecipeLine("input", f"train {_fmt(list(cfg.INPUT.SIZE_TRAIN))}, test {_fmt(list(cfg.INPUT.SIZE_TEST))}, "
                   f"decoder {cfg.INPUT.DECODER}, bilinear resize with {cfg.INPUT.RESIZE_BACKEND}",
                   ["INPUT.SIZE_TRAIN", "INPUT.SIZE_TEST", "INPUT.DECODER", "INPUT.RESIZE_BACKEND"]),
        RecipeLine("augmentation", f"pad {cfg.INPUT.PADDING} with {cfg.INPUT.PADDING_FILL} + random crop, flip p "
                   f"{cfg.INPUT.FLIP_PROB:g}, {erasing}",
                   ["INPUT.PADDING", "INPUT.PADDING_FILL", "INPUT.FLIP_PROB", "INPUT.RANDOM_ERASING"]),
        *_evaluation_lines(cfg, context),
    ]


def recipe_lines(cfg, context: RecipeContext) -> List[RecipeLine]:
    """The core's lines, then every registered project's."""
    lines = core_lines(cfg, context)
    for _, contribute in sorted(RECIPE_LINE_REGISTRY, key=lambda entry: entry[0]):
        lines += contribute(cfg, context)
    return lines


def recipe_card(cfg, config_file: str = "", opts: Sequence[str] = (), dataset=None,
                schedule: Optional[EpochSchedule] = None) -> str:
    """The card as text: one block per line, `item: value` and its source. Builds the training
    (and test) dataset from the config unless given, to size the epoch as training will."""
    dataset = dataset if dataset is not None else build_dataset(cfg, cfg.DATASETS.TRAIN)
    test_dataset = dataset if cfg.DATASETS.TEST == cfg.DATASETS.TRAIN else build_dataset(cfg, cfg.DATASETS.TEST)
    context = RecipeContext(dataset, schedule or build_epoch_schedule(cfg, dataset), test_dataset)
    resolver = _SourceResolver(cfg, config_file, opts)
    out = [f"Recipe card of {config_file or 'the default config'}" + (f" with overrides {' '.join(map(str, opts))}"
                                                                     if opts else "")]
    for line in recipe_lines(cfg, context):
        out.append(f"- {line.item}: {line.value}")
        out.append(f"    source: {resolver.of_line(line.keys)}")
    return "\n".join(out)
