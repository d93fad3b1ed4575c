import sys
import textwrap
from pathlib import Path

import pytest

from partreid.config import CURRENT_VERSION, get_cfg
from partreid.config import setup_cfg
from partreid.utils.errors import ConfigError, UserError
from partreid.utils.testing import declare_project


def write(path, text):
    path.write_text(textwrap.dedent(text))
    return str(path)


def test_base_inheritance_and_overrides(tmp_path):
    write(tmp_path / "base.yaml", """
        SOLVER:
          BASE_LR: 0.1
          STEPS: [3, 6]
        INPUT:
          SIZE_TRAIN: [64, 32]
    """)
    child = write(tmp_path / "child.yaml", """
        _BASE_: base.yaml
        SOLVER:
          BASE_LR: 0.2
    """)
    cfg = setup_cfg(child, ["SOLVER.MAX_EPOCHS", "7", "OUTPUT_DIR", "/tmp/x"])
    assert cfg.SOLVER.BASE_LR == 0.2  # child wins
    assert cfg.SOLVER.STEPS == [3, 6]  # inherited
    assert cfg.INPUT.SIZE_TRAIN == [64, 32]
    assert cfg.SOLVER.MAX_EPOCHS == 7 and cfg.OUTPUT_DIR == "/tmp/x"
    assert cfg.SOLVER.WEIGHT_DECAY == get_cfg().SOLVER.WEIGHT_DECAY  # default untouched
    assert cfg.is_frozen()


def test_unknown_key_in_yaml_names_it(tmp_path):
    bad = write(tmp_path / "bad.yaml", """
        SOLVER:
          BASE_LRR: 0.1
    """)
    with pytest.raises(KeyError, match=r"SOLVER\.BASE_LRR.*bad\.yaml.*Did you mean: BASE_LR"):
        setup_cfg(bad)


def test_unknown_key_on_command_line():
    with pytest.raises(KeyError, match="MODEL.BACKBONE.DEPHT"):
        setup_cfg("", ["MODEL.BACKBONE.DEPHT", "18"])


def test_wrong_value_type_is_rejected():
    with pytest.raises(ValueError):
        setup_cfg("", ["SOLVER.MAX_EPOCHS", "'ten'"])


def test_newer_version_is_rejected(tmp_path):
    f = write(tmp_path / "v.yaml", "VERSION: 99\n")
    with pytest.raises(ValueError, match="VERSION 99"):
        setup_cfg(f)


def test_version_1_sysu_official_draws_is_upgraded(tmp_path):
    """VERSION 2 replaced TEST.SYSU.OFFICIAL_DRAWS (bool) by TEST.SYSU.DRAWS; a saved VERSION 1
    config (e.g. an old run's config.yaml) still loads with the same meaning."""
    for old, new in (("False", "seeded"), ("True", "official")):
        f = write(tmp_path / f"v1_{old}.yaml", f"VERSION: 1\nTEST:\n  SYSU:\n    OFFICIAL_DRAWS: {old}\n")
        cfg = setup_cfg(f)
        assert cfg.TEST.SYSU.DRAWS == new and cfg.VERSION == CURRENT_VERSION and "OFFICIAL_DRAWS" not in cfg.TEST.SYSU


def test_version_2_persistent_workers_is_dropped(tmp_path):
    """VERSION 3 removed DATALOADER.PERSISTENT_WORKERS (the trainer shuts its endless loader down
    itself); an old run's config.yaml that sets it still loads."""
    f = write(tmp_path / "v2.yaml", "VERSION: 2\nDATALOADER:\n  PERSISTENT_WORKERS: True\n  NUM_WORKERS: 3\n")
    cfg = setup_cfg(f)
    assert cfg.VERSION == CURRENT_VERSION and cfg.DATALOADER.NUM_WORKERS == 3
    assert "PERSISTENT_WORKERS" not in cfg.DATALOADER


def test_odd_override_list():
    with pytest.raises(ValueError, match="KEY VALUE"):
        setup_cfg("", ["SOLVER.BASE_LR"])


def test_project_module_adds_keys_before_merge(tmp_path, monkeypatch):
    (tmp_path / "myproj_cfgtest.py").write_text(textwrap.dedent("""
        from partreid.config import CfgNode as CN
        def add_config(cfg):
            cfg.MYPROJ = CN()
            cfg.MYPROJ.ALPHA = 1.0
    """))
    declare_project(tmp_path, "myproj_cfgtest")
    monkeypatch.syspath_prepend(str(tmp_path))
    f = write(tmp_path / "p.yaml", """
        PROJECTS: ["myproj_cfgtest"]
        MYPROJ:
          ALPHA: 3.0
    """)
    cfg = setup_cfg(f)
    assert cfg.MYPROJ.ALPHA == 3.0
    sys.modules.pop("myproj_cfgtest", None)


def test_missing_project_is_a_clear_error(tmp_path):
    f = write(tmp_path / "p.yaml", 'PROJECTS: ["no_such_project_xyz"]\n')
    with pytest.raises(ConfigError, match="'no_such_project_xyz', which is not an installed partreid project"):
        setup_cfg(f)


def test_projects_imports_only_declared_projects(tmp_path, monkeypatch):
    """An importable module that no installed package declares a project is refused, and never
    imported: a config cannot make partreid run a module of its choice."""
    marker = tmp_path / "imported"
    (tmp_path / "not_a_project_cfgtest.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    declare_project(tmp_path, "declared_cfgtest", module="json")
    monkeypatch.syspath_prepend(str(tmp_path))
    f = write(tmp_path / "p.yaml", 'PROJECTS: ["not_a_project_cfgtest"]\n')
    with pytest.raises(ConfigError, match=r"not_a_project_cfgtest.*installed: .*declared_cfgtest"):
        setup_cfg(f)
    assert not marker.exists() and "not_a_project_cfgtest" not in sys.modules
    with pytest.raises(ConfigError, match="not an installed partreid project"):
        setup_cfg("", ["PROJECTS", '["not_a_project_cfgtest"]'])
    assert not marker.exists()


def test_every_default_key_is_commented():
    """defaults.py promises a comment for every key: check that each assignment line is
    preceded by a comment or sits under a commented node."""
    import inspect

    import partreid.config.defaults as d

    lines = inspect.getsource(d).splitlines()
    uncommented = []
    for i, line in enumerate(lines):
        if line.startswith("_C.") and "= CN()" not in line:
            j = i - 1
            while j >= 0 and lines[j].startswith("_C.") and "= CN()" not in lines[j]:
                j -= 1
            if j < 0 or not (lines[j].startswith("#") or "= CN()" in lines[j]):
                uncommented.append(line)
    # keys directly under a node header are allowed only when the header is itself commented
    assert len(uncommented) == 0, uncommented


@pytest.mark.parametrize("opts, key", [
    (["SOLVER.BASE_LR", "0.1", "TEST.IMS_PER_BATCH"], "TEST.IMS_PER_BATCH"),
    (["SOLVER.BASE_LR", "TEST.IMS_PER_BATCH", "16"], "SOLVER.BASE_LR"),
    (["OUTPUT_DIR"], "OUTPUT_DIR"),
])
def test_odd_override_list_names_the_key_without_a_value(opts, key):
    with pytest.raises(ConfigError) as error:
        setup_cfg("", opts)
    message = str(error.value)
    assert message.startswith(f"Override {key} has no value") and "\n" not in message
    assert "[" not in message  # the items themselves are not dumped


def test_missing_base_names_the_file_that_refers_to_it(tmp_path):
    write(tmp_path / "middle.yaml", "_BASE_: no_such_base.yaml\n")
    child = write(tmp_path / "child.yaml", "_BASE_: middle.yaml\n")
    with pytest.raises(ConfigError, match=rf"Config file {tmp_path / 'middle.yaml'} has _BASE_: no_such_base.yaml, "
                                          "which does not exist"):
        setup_cfg(child)


@pytest.mark.parametrize("key, value", [
    ("TEST.IMS_PER_BATCH", "0"), ("DATALOADER.NUM_IDENTITIES", "0"), ("DATALOADER.NUM_INSTANCES", "-2"),
    ("TEST.RANK_BATCH", "0"), ("DATALOADER.NUM_WORKERS", "-1"), ("DATALOADER.ITERS_PER_EPOCH", "-1"),
])
def test_batch_and_worker_keys_are_checked_when_the_config_is_set_up(key, value):
    with pytest.raises(ConfigError, match=rf"^{key} must be a whole number >= [01], got {value}$"):
        setup_cfg("", [key, value])
    assert setup_cfg("", ["DATALOADER.NUM_WORKERS", "0"]).DATALOADER.NUM_WORKERS == 0


def test_config_mistakes_are_user_errors(tmp_path):
    """The command-line tools print these as one line (partreid.utils.cli)."""
    for opts in (["NO_SUCH.KEY", "1"], ["TEST.IMS_PER_BATCH", "many"]):
        with pytest.raises(UserError):
            setup_cfg("", opts)
    with pytest.raises(KeyError):  # still the built-in type callers catch
        setup_cfg("", ["NO_SUCH.KEY", "1"])


def test_version_3_loss_names_become_enabled_switches(tmp_path, caplog):
    """VERSION 4 replaced the list MODEL.LOSSES.NAMES by one ENABLED switch per loss node; an old
    YAML, with or without VERSION, builds the same losses, and a list in another order than the
    declared one is summed in the declared order with a warning."""
    from partreid.modeling.losses import enabled_loss_names

    for version in ("VERSION: 3\n", ""):
        f = write(tmp_path / "v3.yaml", version + "MODEL:\n  LOSSES:\n    NAMES: [IdentityLoss, TripletLoss]\n"
                                              "    TRIPLET:\n      WEIGHT: 0.25\n")
        cfg = setup_cfg(f)
        assert enabled_loss_names(cfg) == ["IdentityLoss", "TripletLoss"] and cfg.VERSION == CURRENT_VERSION
        assert cfg.MODEL.LOSSES.TRIPLET.WEIGHT == 0.25 and not cfg.MODEL.LOSSES.SEP.ENABLED
    f = write(tmp_path / "reordered.yaml", "MODEL:\n  LOSSES:\n    NAMES: [TripletLoss, IdentityLoss]\n")
    assert enabled_loss_names(setup_cfg(f)) == ["IdentityLoss", "TripletLoss"]
    assert "summed in the declared order of MODEL.LOSSES (ID, TRIPLET)" in caplog.text
    f = write(tmp_path / "unknown.yaml", "MODEL:\n  LOSSES:\n    NAMES: [IdentityLoss, NoSuchLoss]\n")
    with pytest.raises(ConfigError, match="MODEL.LOSSES.NAMES .* lists 'NoSuchLoss'"):
        setup_cfg(f)


# The losses every shipped core YAML built when MODEL.LOSSES.NAMES listed them (VERSION 3):
# class, weight, in the order the trainer sums their terms.
_MPANET = [("IdentityLoss", 1.0), ("ModalitySpecificIDLoss", 1.0), ("ModalityLearningLoss", 2.5),
           ("CenterClusterLoss", 1.0), ("PartSeparationLoss", 0.5)]
_VIREID = [("IdentityLoss", 1.0), ("ModalitySpecificIDLoss", 0.5), ("ModalityLearningLoss", 2.5),
           ("CenterClusterLoss", 1.0), ("PartSeparationLoss", 0.5)]
SHIPPED_LOSSES = {"Base-MPANetRecipe.yaml": _MPANET, "sysu_mm01_baseline.yaml": _MPANET,
                  "Base-VIReID.yaml": _VIREID, "synthvi_baseline.yaml": _VIREID}


def test_every_shipped_config_builds_the_same_losses_in_the_same_order():
    from partreid.modeling.losses import build_losses

    shipped = sorted(Path(__file__).resolve().parents[2].joinpath("configs").glob("*.yaml"))
    assert sorted(path.name for path in shipped) == sorted(SHIPPED_LOSSES)
    for path in shipped:
        built = [(type(loss).__name__, loss.weight) for loss in build_losses(setup_cfg(str(path)))]
        assert built == SHIPPED_LOSSES[path.name], path.name
