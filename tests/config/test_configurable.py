"""`configurable` / `from_config`: every registered component of the core, built
from a config and from keyword arguments, is the same (same weights from the same seed, same
outputs); the keyword defaults are the config's defaults; misuse of either style is explained."""
import inspect
import os

import pytest
import torch
import torch.nn as nn

from partreid.config import ArgumentError, config_arguments, configurable, get_cfg
from partreid.utils.errors import ConfigKeyError
from partreid.data import DATASET_REGISTRY, INFRARED, SAMPLER_REGISTRY, VISIBLE, ReidDataset, ReidItem
from partreid.data.datasets import LLCM, SYSUMM01, RegDB, SynthVI, SynthVIVal
from partreid.data.samplers import CrossModalityPassSampler, CrossModalitySampler, IdentitySampler
from partreid.evaluation import (
    EVALUATOR_REGISTRY,
    LLCMEvaluator,
    PartDiscoveryEvaluator,
    RegDBEvaluator,
    ReidEvaluator,
    SYSUEvaluator,
)
from partreid.modeling.backbone import BACKBONE_REGISTRY, ResNet
from partreid.modeling.losses import (
    LOSS_REGISTRY,
    CenterClusterLoss,
    IdentityLoss,
    ModalityLearningLoss,
    ModalitySpecificIDLoss,
    PartSeparationLoss,
    TripletLoss,
    enable_losses,
)
from partreid.modeling.meta_arch import META_ARCH_REGISTRY, PartBaseline
from partreid.modeling.mixers import MIXER_REGISTRY, CutMix, ManifoldMixUp, MixUp, NoMix
from partreid.modeling.part_heads import PART_HEAD_REGISTRY, PartDetector, Stripes
from partreid.utils.testing import (
    assert_loss_built_both_ways_alike,
    assert_same,
    assert_same_attributes,
    assert_same_module,
    seeded,
    tiny_model_cfg,
    toy_training_batch,
)

TREES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "data")
REGISTRIES = [BACKBONE_REGISTRY, PART_HEAD_REGISTRY, META_ARCH_REGISTRY, LOSS_REGISTRY, MIXER_REGISTRY,
              EVALUATOR_REGISTRY, DATASET_REGISTRY, SAMPLER_REGISTRY]
CORE_LOSSES = ["IdentityLoss", "ModalitySpecificIDLoss", "ModalityLearningLoss", "CenterClusterLoss",
               "PartSeparationLoss", "TripletLoss"]
SEED = 7
SYNTHVI = dict(num_train_ids=3, num_test_ids=2, images_per_camera=1, image_size=[32, 16], seed=0)

# What the test config below sets, as keyword arguments: values away from the defaults wherever
# there is a choice, so that a from_config that forgets a key cannot pass.
RESNET = dict(depth=18, last_stride=2, modality_alleviation=[3], pretrain_path="", allow_random_init=True,
              padding_mode="replicate")
PART_DETECTOR = dict(num_parts=3)
LOSSES = {
    "IdentityLoss": (IdentityLoss, dict(weight=0.7, label_smoothing=0.1, reduction="per_modality")),
    "ModalitySpecificIDLoss": (ModalitySpecificIDLoss, dict(weight=0.3, count_twice=True)),
    "ModalityLearningLoss": (ModalityLearningLoss, dict(weight=1.5)),
    "CenterClusterLoss": (CenterClusterLoss, dict(weight=0.9, margin=0.5)),
    "PartSeparationLoss": (PartSeparationLoss, dict(weight=0.2, normalize=True)),
    "TripletLoss": (TripletLoss, dict(weight=0.6, margin=0.2)),
}
MIXERS = {
    "NoMix": (NoMix, dict(seed=SEED)),
    "MixUp": (MixUp, dict(alpha=0.7, seed=SEED)),
    "CutMix": (CutMix, dict(alpha=0.7, seed=SEED)),
    "ManifoldMixUp": (ManifoldMixUp, dict(stages=[2, 4], alpha=0.7, seed=SEED)),
}
BASELINE = dict(num_classes=4, pixel_mean=[100.0, 110.0, 120.0], pixel_std=[50.0, 55.0, 60.0], mean_momentum=0.5,
                channels_last=False, mixer_start_epoch=1, mixer_prob=0.9)
EVALUATION = dict(flip_features=True, flip_fusion="sum_normalized", num_trials=2, rank_batch=5, rerank=True,
                  rerank_k1=3, rerank_k2=2, rerank_lambda=0.5)
EVALUATORS = {
    "ReidEvaluator": (ReidEvaluator, {}),
    "SYSUEvaluator": (SYSUEvaluator, dict(modes=["all"], shots=[2], draws="seeded")),
    "RegDBEvaluator": (RegDBEvaluator, dict(directions=["thermal_to_visible"])),
    "LLCMEvaluator": (LLCMEvaluator, dict(directions=["visible_to_infrared"], vis_to_ir_as_released=False)),
}
SAMPLERS = {"CrossModalitySampler": CrossModalitySampler, "CrossModalityPassSampler": CrossModalityPassSampler,
            "IdentitySampler": IdentitySampler}
SAMPLING = dict(num_identities=2, num_instances=2, seed=SEED)


def make_config(root=""):
    """The config every comparison builds from (and the values of the keyword constants above)."""
    cfg = tiny_model_cfg()
    cfg.SEED = SEED
    b = cfg.MODEL.BACKBONE
    b.LAST_STRIDE, b.MODALITY_ALLEVIATION, b.PADDING_MODE = 2, [3], "replicate"
    h = cfg.MODEL.PART_HEAD
    h.NUM_PARTS = 3
    cfg.MODEL.PIXEL_MEAN, cfg.MODEL.PIXEL_STD = [100.0, 110.0, 120.0], [50.0, 55.0, 60.0]
    cfg.MODEL.CLASSIFIER.MEAN_MOMENTUM = 0.5
    cfg.MODEL.CHANNELS_LAST = False
    losses = cfg.MODEL.LOSSES
    losses.ID.WEIGHT, losses.ID.LABEL_SMOOTHING, losses.ID.REDUCTION = 0.7, 0.1, "per_modality"
    losses.SID.WEIGHT, losses.SID.COUNT_TWICE = 0.3, True
    losses.ML.WEIGHT = 1.5
    losses.CC.WEIGHT, losses.CC.MARGIN = 0.9, 0.5
    losses.SEP.WEIGHT, losses.SEP.NORMALIZE = 0.2, True
    losses.TRIPLET.WEIGHT, losses.TRIPLET.MARGIN = 0.6, 0.2
    losses.NAMES = CORE_LOSSES
    m = cfg.MODEL.MIXER
    m.START_EPOCH, m.PROB, m.ALPHA, m.MANIFOLD_STAGES = 1, 0.9, 0.7, [2, 4]
    t = cfg.TEST
    t.FLIP_FEATURES, t.FLIP_FUSION, t.NUM_TRIALS, t.RANK_BATCH = True, "sum_normalized", 2, 5
    t.RERANK.ENABLED, t.RERANK.K1, t.RERANK.K2, t.RERANK.LAMBDA = True, 3, 2, 0.5
    t.SYSU.MODES, t.SYSU.SHOTS, t.SYSU.DRAWS = ["all"], [2], "seeded"
    t.REGDB.DIRECTIONS = ["thermal_to_visible"]
    t.LLCM.DIRECTIONS, t.LLCM.VIS_TO_IR_AS_RELEASED = ["visible_to_infrared"], False
    cfg.DATALOADER.NUM_IDENTITIES, cfg.DATALOADER.NUM_INSTANCES = 2, 2
    cfg.DATASETS.ROOT, cfg.DATASETS.REGDB_TRIAL = root, 2
    s = cfg.DATASETS.SYNTHVI
    s.NUM_TRAIN_IDS, s.NUM_TEST_IDS, s.IMAGES_PER_CAMERA, s.IMAGE_SIZE, s.SEED = 3, 2, 1, [32, 16], 0
    return cfg


def registered():
    """(registry name, component name) of every component the core registers (tests, examples
    and installed projects that register their own are left out)."""
    return sorted((registry._name, name) for registry in REGISTRIES for name, obj in registry
                  if obj.__module__.split(".")[0] == "partreid")


# ----------------------------------------------------------------------------- modules
def build_baseline_from_arguments(cls, mixer_name, loss_names, **extra):
    """The meta-architecture from modules built in the order PartBaseline.from_config builds them."""
    backbone = ResNet(**RESNET)
    part_head = PartDetector(in_channels=backbone.out_channels, **PART_DETECTOR)
    mixer_cls, mixer_kwargs = MIXERS[mixer_name]
    losses = [LOSSES[name][0](**LOSSES[name][1]) for name in loss_names]
    return cls(backbone=backbone, part_head=part_head, mixer=mixer_cls(**mixer_kwargs), losses=losses,
               **BASELINE, **extra)


@pytest.fixture(scope="module")
def trained_model():
    """A PartBaseline built from the config, and the outputs of a training forward, on which
    the losses and the mixers' descriptor mixing are compared."""
    cfg = make_config()
    model = seeded(lambda: PartBaseline(cfg)).train()
    batch = toy_training_batch(epoch=1, iteration=4)
    return model, model.training_outputs(model.preprocess(batch["images"]), batch), batch


@pytest.mark.parametrize("cls, mixer_name, losses, extra", [(PartBaseline, "MixUp", CORE_LOSSES, {})])
def test_meta_architectures(cls, mixer_name, losses, extra):
    cfg = make_config()
    cfg.MODEL.MIXER.NAME = mixer_name
    enable_losses(cfg, losses)
    from_cfg = seeded(lambda: cls(cfg))
    from_arguments = seeded(lambda: build_baseline_from_arguments(cls, mixer_name, losses, **extra))
    assert from_arguments.num_parts == 3  # read from the part head, as no num_parts was given
    assert_same_module(from_cfg, from_arguments)
    batch = toy_training_batch(epoch=1, iteration=4)
    terms = [model.train()(batch) for model in (from_cfg, from_arguments)]
    assert set(terms[0]) >= {"loss_id", "loss_sep", "loss_triplet"}
    assert_same(*terms, "loss terms")
    assert_same(*[model.eval()(batch) for model in (from_cfg, from_arguments)], "features")


def test_backbone():
    cfg = make_config()
    from_cfg, from_arguments = seeded(lambda: ResNet(cfg)), seeded(lambda: ResNet(**RESNET))
    assert_same_module(from_cfg, from_arguments)
    images = torch.randn(2, 3, 32, 16)
    assert_same(from_cfg.eval()(images), from_arguments.eval()(images))


@pytest.mark.parametrize("cls, kwargs", [(PartDetector, PART_DETECTOR), (Stripes, dict(num_parts=3))])
def test_part_heads(cls, kwargs):
    cfg = make_config()
    from_cfg = seeded(lambda: cls(cfg, in_channels=8))
    from_arguments = seeded(lambda: cls(**(dict(kwargs, in_channels=8) if cls is PartDetector else kwargs)))
    assert_same_module(from_cfg, from_arguments)
    features = torch.randn(2, 8, 6, 4)
    assert_same(from_cfg(features), from_arguments(features))


@pytest.mark.parametrize("name", sorted(LOSSES))
def test_losses(name, trained_model):
    _, outputs, batch = trained_model
    cls, kwargs = LOSSES[name]
    assert_loss_built_both_ways_alike(cls, make_config(), kwargs, outputs, batch)


@pytest.mark.parametrize("name", sorted(MIXERS))
def test_mixers(name, trained_model):
    model, outputs, batch = trained_model
    cls, kwargs = MIXERS[name]
    mixers = cls(make_config()), cls(**kwargs)
    assert_same_attributes(*mixers)
    images, features = torch.randn(8, 3, 32, 16), torch.randn(8, 16, 8, 4)
    results = []
    for mixer in mixers:
        mixer.reseed(iteration=4)
        results.append((mixer.mix_images(images, batch), mixer.hidden_stage(), mixer.mix_hidden(features, batch),
                        mixer.mix_descriptors(outputs, batch, model)))
    assert_same(*results, name)


# ----------------------------------------------------------------------------- evaluation and data
def evaluation_dataset():
    """Three identities in SYSU's six cameras, two images each; the first infrared image of each
    camera is a query for the roles-based ReID protocol, every other image a gallery one."""
    items = [ReidItem(f"/sysu/cam{cam}/{pid:04d}/{n:04d}.jpg", pid, cam, INFRARED if cam in (3, 6) else VISIBLE,
                      "query" if cam in (3, 6) and n == 1 else "gallery")
             for pid in (1, 2, 3) for cam in range(1, 7) for n in (1, 2)]
    return ReidDataset("/sysu", [], items)


@pytest.mark.parametrize("name", sorted(EVALUATORS))
def test_evaluators(name):
    cls, kwargs = EVALUATORS[name]
    dataset = evaluation_dataset()
    evaluators = cls(make_config(), dataset), cls(dataset, **EVALUATION, **kwargs)
    assert_same_attributes(*evaluators)
    features = torch.randn(len(dataset.test), 6, generator=torch.Generator().manual_seed(0))
    results = []
    for evaluator in evaluators:
        evaluator.process({"indices": torch.arange(len(dataset.test))}, features)
        results.append(evaluator.evaluate())
    assert_same(*results, name)


def training_items():
    return [ReidItem(f"{pid}_{cam}_{n}.jpg", pid, cam, VISIBLE if cam == 1 else INFRARED)
            for pid in range(4) for cam in (1, 3) for n in range(3)]


@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_samplers(name):
    cls, items = SAMPLERS[name], training_items()
    samplers = cls(make_config(), items, iters_per_epoch=3, start_iter=2), \
        cls(items, iters_per_epoch=3, start_iter=2, **SAMPLING)
    assert_same_attributes(*samplers)
    streams = [iter(sampler) for sampler in samplers]
    assert_same(*[[next(stream) for _ in range(5)] for stream in streams], name)


@pytest.fixture
def trees(tmp_path, monkeypatch):
    """Tiny SYSU-MM01, RegDB (trial 2) and LLCM trees under tmp_path, with the writers of the
    dataset tests; SynthVI generates its own."""
    monkeypatch.syspath_prepend(TREES)
    from vi_reid_trees import write_ids, write_image

    def write_lines(path, lines):
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write("\n".join(lines) + "\n")

    root = str(tmp_path)
    sysu = os.path.join(root, "SYSU-MM01")
    for pid in range(1, 6):
        for cam in range(1, 7):
            write_image(os.path.join(sysu, f"cam{cam}", f"{pid:04d}", "0001.jpg"), pid * 10 + cam)
    for name, ids in (("train_id.txt", (1, 2)), ("val_id.txt", (3,)), ("test_id.txt", (4, 5))):
        write_ids(os.path.join(sysu, "exp", name), ids)
    for split, pids in (("train", (10, 11)), ("test", (20, 21))):
        for name, folder in (("visible", "Visible"), ("thermal", "Thermal")):
            for pid in pids:
                write_image(os.path.join(root, "RegDB", folder, f"{pid}.bmp"), pid)
            write_lines(os.path.join(root, "RegDB", "idx", f"{split}_{name}_2.txt"),
                        [f"{folder}/{pid}.bmp {pid}" for pid in pids])
    llcm = os.path.join(root, "LLCM")
    for folder, listing in (("train_vis", "train_vis.txt"), ("train_nir", "train_nir.txt")):
        write_image(os.path.join(llcm, folder, "cam1", "0003", "a.jpg"), 3)
        write_lines(os.path.join(llcm, "idx", listing), [f"{folder}/cam1/0003/a.jpg 3"])
    for folder in ("test_vis", "test_nir"):
        write_image(os.path.join(llcm, folder, "cam1", "0008", "a.jpg"), 8)
    write_ids(os.path.join(llcm, "idx", "test_id.txt"), (8,))
    return root


def test_datasets(trees):
    cfg = make_config(trees)
    pairs = [
        (SYSUMM01(cfg), SYSUMM01(os.path.join(trees, "SYSU-MM01"))),
        (RegDB(cfg), RegDB(os.path.join(trees, "RegDB"), trial=2)),
        (LLCM(cfg), LLCM(os.path.join(trees, "LLCM"))),
        (SynthVI(cfg), SynthVI(os.path.join(trees, "SynthVI"), params=SYNTHVI)),
        (SynthVIVal(cfg), SynthVIVal(os.path.join(trees, "SynthVI"), params=SYNTHVI)),
    ]
    for from_cfg, from_arguments in pairs:
        assert from_cfg.train and from_cfg.test, type(from_cfg).__name__
        assert_same_attributes(from_cfg, from_arguments)


def test_part_discovery_evaluator(trees):
    dataset = SynthVI(os.path.join(trees, "SynthVI"), params=SYNTHVI)
    cfg = make_config(trees)
    cfg.TEST.PART_DISCOVERY.ALIVE_THRESHOLD, cfg.TEST.PART_DISCOVERY.ALIVE_MIN_FRACTION = 0.05, 0.25
    from_cfg = PartDiscoveryEvaluator(cfg, dataset)
    from_arguments = PartDiscoveryEvaluator(dataset, alive_threshold=0.05, alive_min_fraction=0.25)
    assert_same_attributes(from_cfg, from_arguments)
    model = seeded(lambda: PartBaseline(cfg))
    images = torch.randint(0, 256, (len(dataset.test), 3, 32, 16), dtype=torch.uint8,
                           generator=torch.Generator().manual_seed(0))
    results = []
    for evaluator in (from_cfg, from_arguments):
        evaluator.attach(model)
        evaluator.reset()
        evaluator.process({"images": images, "indices": torch.arange(len(dataset.test))})
        results.append(evaluator.evaluate())
    assert_same(*results, "PartDiscoveryEvaluator")


def test_every_registered_component_is_compared_both_ways():
    """The comparisons above cover every registered component: a new one needs its case here."""
    covered = {"ResNet", "PartDetector", "Stripes", "PartBaseline", "SYSUMM01", "RegDB", "LLCM",
               "SynthVI", "SynthVIVal", "PartDiscoveryEvaluator", *LOSSES, *MIXERS, *EVALUATORS, *SAMPLERS}
    assert sorted(name for _, name in registered()) == sorted(covered)


def from_config_extras():
    """The arguments besides cfg that each registry passes to from_config."""
    return {"PART_HEAD": (8,), "EVALUATOR": (evaluation_dataset(),), "SAMPLER": (training_items(), 3)}


def test_keyword_defaults_are_the_config_defaults():
    """Built from keyword arguments, a component behaves as one built from the default config:
    each default of __init__ equals what from_config reads from get_cfg() (None defaults, which
    stand for "take it from elsewhere", excepted)."""
    cfg = get_cfg()
    # the meta-architectures' from_config builds their modules: a small backbone, which is not
    # one of their own arguments, and the number of classes, which has no default
    small = cfg.clone()
    small.MODEL.NUM_CLASSES, small.MODEL.BACKBONE.DEPTH = 4, 18
    extras = from_config_extras()
    for registry_name, name in registered():
        cls = next(r for r in REGISTRIES if r._name == registry_name).get(name)
        arguments = cls.from_config(small if registry_name == "META_ARCH" else cfg, *extras.get(registry_name, ()))
        defaults = {p.name: p.default for p in inspect.signature(cls.__init__).parameters.values()
                    if p.default is not p.empty and p.default is not None}
        for argument, default in defaults.items():
            value = arguments[argument]
            if isinstance(default, tuple):
                value, default = list(value), list(default)
            assert value == default, f"{name}({argument}={default!r}) but the config's default is {value!r}"


# ----------------------------------------------------------------------------- the decorator itself
class Scaler:
    @configurable
    def __init__(self, *, size: int, scale: float = 1.0):
        if scale <= 0:
            raise ArgumentError("{scale}={value!r}: expected a value > 0", value=scale)
        self.size, self.scale = size, scale

    @classmethod
    def from_config(cls, cfg, size: int):
        return config_arguments(cfg, {"scale": "MODEL.MIXER.ALPHA"}, size=size)


def test_both_styles_build_the_same_object():
    cfg = get_cfg()
    cfg.MODEL.MIXER.ALPHA = 2.5
    for scaler in (Scaler(cfg, size=3), Scaler(cfg, 3), Scaler(cfg=cfg, size=3), Scaler(size=3, scale=2.5)):
        assert (scaler.size, scaler.scale) == (3, 2.5)


def test_misuse_names_the_class_and_the_arguments():
    cfg = get_cfg()
    with pytest.raises(TypeError, match=r"Scaler\(cfg\) is missing size\. Build it from a config, Scaler\(cfg, "
                                        r"size\), or from its arguments, Scaler\(size=\.\.\., scale=\.\.\.\)"):
        Scaler(cfg)
    with pytest.raises(TypeError, match=r"Scaler\(\) is missing size\."):
        Scaler()
    with pytest.raises(TypeError, match=r"Scaler\(cfg, size=\.\.\., scale=\.\.\.\) takes no argument scale\..*"
                                        "not a mix of the two"):
        Scaler(cfg, size=3, scale=2.0)
    with pytest.raises(TypeError, match=r"Scaler\(int\) takes its arguments by name only \(got 1 positional\); "
                                        "is missing size"):
        Scaler(3)
    with pytest.raises(TypeError, match=r"PartDetector\(\) is missing in_channels"):
        PartDetector()
    with pytest.raises(TypeError, match=r"PartBaseline\(num_classes=\.\.\.\) is missing backbone, part_head"):
        PartBaseline(num_classes=3)


def test_argument_errors_name_the_argument_or_its_config_key():
    cfg = get_cfg()
    with pytest.raises(ArgumentError, match=r"^scale=0: expected a value > 0$"):
        Scaler(size=1, scale=0)
    cfg.MODEL.MIXER.ALPHA = -1.0
    with pytest.raises(ValueError, match=r"^MODEL\.MIXER\.ALPHA=-1\.0: expected a value > 0$"):
        Scaler(cfg, size=1)
    # the real components, a key read by a subclass's from_config included
    with pytest.raises(ArgumentError, match=r"^alpha=-1\.0: the Beta parameter must be > 0$"):
        MixUp(alpha=-1.0)
    with pytest.raises(ArgumentError, match=r"^MODEL\.MIXER\.ALPHA=-1\.0: the Beta parameter must be > 0$"):
        MixUp(cfg)
    with pytest.raises(ArgumentError, match=r"^num_parts=0: PartDetector needs at least 1 part$"):
        PartDetector(in_channels=8, num_parts=0)
    cfg.MODEL.PART_HEAD.NUM_PARTS = 0
    with pytest.raises(ArgumentError, match=r"^MODEL\.PART_HEAD\.NUM_PARTS=0: PartDetector needs at least 1 part$"):
        PartDetector(cfg, 8)
    with pytest.raises(ConfigKeyError, match="no key MYPROJECT .*PROJECTS"):
        config_arguments(get_cfg(), {"weight": "MYPROJECT.WEIGHT"})


def test_an_error_renamed_by_an_inner_component_keeps_its_keys():
    class Outer:
        @configurable
        def __init__(self, *, node, scale: float):
            self.inner = Scaler(node, size=1)

        @classmethod
        def from_config(cls, cfg):
            return config_arguments(cfg, {"scale": "TEST.RERANK.LAMBDA"}, node=cfg)

    cfg = get_cfg()
    cfg.MODEL.MIXER.ALPHA = 0.0
    with pytest.raises(ArgumentError, match=r"^MODEL\.MIXER\.ALPHA=0\.0"):
        Outer(cfg)


def test_subclasses_find_the_from_config_of_their_init():
    class Child(Scaler):
        """A plain __init__ that builds its parent from the config: the parent's from_config."""

        def __init__(self, cfg):
            super().__init__(cfg, size=4)

    class Wide(Scaler):
        """Only from_config overridden: the parent's __init__ with this from_config."""

        @classmethod
        def from_config(cls, cfg, size):
            arguments = super().from_config(cfg, size)
            arguments["size"] = 2 * size
            return arguments

    assert Child(get_cfg()).size == 4 and Wide(get_cfg(), 3).size == 6 and Wide(size=3).size == 3


def test_broken_declarations_are_refused():
    with pytest.raises(TypeError, match="takes a 'cfg' argument"):
        class TakesCfg:
            @configurable
            def __init__(self, cfg):
                pass

    class NoFromConfig:
        @configurable
        def __init__(self, *, size: int):
            self.size = size

    class ReturnsList(Scaler):
        @classmethod
        def from_config(cls, cfg, size):
            return [size]

    class ReturnsExtra(Scaler):
        @classmethod
        def from_config(cls, cfg, size):
            return {"size": size, "colour": "red"}

    class StaticFromConfig(Scaler):
        @staticmethod
        def from_config(cfg, size):
            return {"size": size}

    cfg = get_cfg()
    assert NoFromConfig(size=2).size == 2
    with pytest.raises(TypeError, match="NoFromConfig has no from_config classmethod"):
        NoFromConfig(cfg)
    with pytest.raises(TypeError, match="ReturnsList.from_config returned a list"):
        ReturnsList(cfg, 1)
    with pytest.raises(TypeError, match="ReturnsExtra.from_config returned arguments that do not fit __init__, which "
                                        "takes no argument colour"):
        ReturnsExtra(cfg, 1)
    with pytest.raises(TypeError, match="StaticFromConfig.from_config must be a classmethod"):
        StaticFromConfig(cfg, 1)


def test_modules_built_from_arguments_need_no_config_at_all():
    """The notebook use: a whole model from keyword arguments, trained one step."""
    torch.manual_seed(0)
    backbone = ResNet(depth=18)
    model = PartBaseline(backbone=backbone, part_head=PartDetector(in_channels=backbone.out_channels, num_parts=2),
                         num_classes=2, losses=[IdentityLoss(), TripletLoss(margin=0.5)], channels_last=False)
    assert isinstance(model.mixer, NoMix) and model.num_parts == 2
    terms = model.train()(toy_training_batch(epoch=0))
    assert set(terms) == {"loss_id", "loss_triplet"} and all(torch.isfinite(v) for v in terms.values())
    assert isinstance(model.loss_modules[0], nn.Module)
