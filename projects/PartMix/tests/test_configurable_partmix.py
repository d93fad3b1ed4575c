"""`configurable` / `from_config` for PartMix's components: each, built from a config and from
keyword arguments, is the same (same weights from the same seed, same outputs); the keyword
defaults are the config's defaults; misuse is explained. The core's components are covered by
the core's tests/config/test_configurable.py."""
import inspect

import pytest

import partmix
from partreid.config import ArgumentError, get_cfg
from partreid.modeling.losses import LOSS_REGISTRY, enable_losses
from partreid.modeling.meta_arch import META_ARCH_REGISTRY, PartBaseline
from partreid.modeling.mixers import MIXER_REGISTRY
from partreid.utils.errors import UserError
from partreid.utils.testing import (
    assert_loss_built_both_ways_alike,
    assert_same,
    assert_same_attributes,
    assert_same_module,
    seeded,
    tiny_model_cfg,
    toy_training_batch,
)

from partmix.losses import PartMixAuxIDLoss, PartMixContrastiveLoss
from partmix.meta_arch import PartMixBaseline
from partmix.mixer import PartMix

SEED = 7
CORE_LOSSES = ["IdentityLoss", "PartSeparationLoss", "TripletLoss"]
# What make_config sets, as keyword arguments (the losses in the order their terms are summed): values away from the defaults wherever there is a
# choice, so that a from_config that forgets a key cannot pass.
LOSSES = {
    "PartMixContrastiveLoss": (PartMixContrastiveLoss, dict(weight=0.3, temperature=0.2, cont_feature="pre_bn")),
    "PartMixAuxIDLoss": (PartMixAuxIDLoss, dict(weight=0.25)),
}
PARTMIX = dict(num_swap=2, mix_global="mean_of_parts", inter=True, intra=False, num_pos=1, num_neg=5,
               mining="similarity", anchor_chunk=3, cont_feature="pre_bn", seed=SEED)
DIAGNOSTICS = dict(diagnostics_period=3, diagnostics_module="backbone.layer3")


def make_config():
    cfg = tiny_model_cfg()
    partmix.add_partmix_config(cfg)
    cfg.SEED = SEED
    cfg.MODEL.PART_HEAD.NUM_PARTS = 3
    cfg.MODEL.MIXER.NAME, cfg.MODEL.MIXER.START_EPOCH, cfg.MODEL.MIXER.PROB = "PartMix", 1, 1.0
    enable_losses(cfg, CORE_LOSSES + list(LOSSES))
    p = cfg.PARTMIX
    p.NUM_SWAP, p.MIX_GLOBAL, p.INTRA, p.NUM_POS, p.NUM_NEG = 2, "mean_of_parts", False, 1, 5
    p.MINING, p.ANCHOR_CHUNK, p.CONT_FEATURE, p.TEMPERATURE = "similarity", 3, "pre_bn", 0.2
    cfg.MODEL.LOSSES.CONT.WEIGHT, cfg.MODEL.LOSSES.AID.WEIGHT = 0.3, 0.25
    p.DIAGNOSTICS_PERIOD, p.DIAGNOSTICS_MODULE = 3, "backbone.layer3"
    return cfg


def partmix_components():
    """(registry, name) of every component PartMix registers."""
    found = [(registry, name) for registry in (META_ARCH_REGISTRY, LOSS_REGISTRY, MIXER_REGISTRY)
             for name, obj in registry if obj.__module__.split(".")[0] == "partmix"]
    return sorted(found, key=lambda entry: (entry[0]._name, entry[1]))


def baseline_from_arguments(cfg):
    """PartMixBaseline with the core's arguments read by PartBaseline.from_config (covered by the
    core's tests) and PartMix's own given as keywords, built in from_config's order."""
    arguments = dict(PartBaseline.from_config(cfg))
    arguments["mixer"] = PartMix(**PARTMIX)
    arguments["losses"] = arguments["losses"][:len(CORE_LOSSES)] + [cls(**kwargs) for cls, kwargs in LOSSES.values()]
    return PartMixBaseline(**arguments, **DIAGNOSTICS)


@pytest.fixture(scope="module")
def partmix_model():
    """A PartMixBaseline built from the config, and the outputs of a mixing training forward."""
    model = seeded(lambda: PartMixBaseline(make_config())).train()
    batch = toy_training_batch(epoch=1, iteration=4)
    return model, model.training_outputs(model.preprocess(batch["images"]), batch), batch


def test_meta_architecture():
    cfg = make_config()
    from_cfg, from_arguments = seeded(lambda: PartMixBaseline(cfg)), seeded(lambda: baseline_from_arguments(cfg))
    assert_same_module(from_cfg, from_arguments)
    batch = toy_training_batch(epoch=1, iteration=4)
    terms = [model.train()(batch) for model in (from_cfg, from_arguments)]
    assert {"loss_cont", "loss_id"} <= set(terms[0])
    assert_same(*terms, "loss terms")


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses(name, partmix_model):
    _, outputs, batch = partmix_model
    cls, kwargs = LOSSES[name]
    assert_loss_built_both_ways_alike(cls, make_config(), kwargs, outputs, batch)


def test_mixer(partmix_model):
    model, outputs, batch = partmix_model
    mixers = PartMix(make_config()), PartMix(**PARTMIX)
    assert_same_attributes(*mixers)
    results = []
    for mixer in mixers:
        mixer.reseed(iteration=4)
        results.append(mixer.mix_descriptors(outputs, batch, model))
    assert_same(*results, "PartMix")


def test_every_partmix_component_is_compared_both_ways():
    assert sorted(name for _, name in partmix_components()) == sorted(["PartMixBaseline", "PartMix", *LOSSES])


def test_keyword_defaults_are_the_config_defaults():
    cfg = get_cfg()
    partmix.add_partmix_config(cfg)
    small = cfg.clone()
    small.MODEL.NUM_CLASSES, small.MODEL.BACKBONE.DEPTH = 4, 18
    for registry, name in partmix_components():
        cls = registry.get(name)
        arguments = cls.from_config(small if registry is META_ARCH_REGISTRY else cfg)
        defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                    if p.default is not p.empty and p.default is not None}
        for argument, default in defaults.items():
            assert arguments[argument] == default, f"{name}({argument}={default!r}) but the config says otherwise"


def test_argument_errors_name_the_argument_or_its_config_key():
    with pytest.raises(ArgumentError, match=r"^inter and intra are both False"):
        PartMix(inter=False, intra=False)
    with pytest.raises(KeyError, match="no key MODEL.LOSSES.AID .*PROJECTS"):
        PartMixAuxIDLoss(get_cfg())


def test_partmix_losses_with_another_mixer_are_an_error_naming_them():
    """Enabled PartMix losses under a mixer that mines nothing: silent before the mixer starts,
    an error at the first step it acts on, naming the loss and the outputs it lacks."""
    cfg = make_config()
    cfg.MODEL.MIXER.NAME = "MixUp"
    model = seeded(lambda: PartBaseline(cfg)).train()
    assert "loss_cont" not in model(toy_training_batch(epoch=0, iteration=0))  # before MODEL.MIXER.START_EPOCH
    with pytest.raises(UserError, match=r"Loss PartMixContrastiveLoss \(MODEL.LOSSES.CONT.ENABLED True\) returned no "
                                        r"term on a batch the mixer acted on: .*missing: partmix_positives"):
        model(toy_training_batch(epoch=1, iteration=4))
