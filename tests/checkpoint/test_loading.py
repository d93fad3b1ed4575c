"""Checkpoints are read without running code and loaded strictly.

A checkpoint carrying a pickle payload (an object whose unpickling creates a marker file) is
refused, naming the file, by every way a checkpoint enters partreid: the checkpointer
(MODEL.WEIGHTS), --resume, --eval-only, and the extract_features, export_onnx and visualize
tools; the marker never appears. A checkpoint that does not fit the model (the 2-part model given
a 4-part config) is an error listing the tensors and naming the config it was trained with;
MODEL.WEIGHTS_MAY_SKIP lets a fine-tuning run leave named tensors out, and logs them."""
import importlib.util
import logging
import os
import subprocess
import sys

import pytest
import torch

from partreid.checkpoint import (
    ReidCheckpointer,
    UnreadableCheckpointError,
    UnsafeCheckpointError,
    config_file_for_weights,
    load_checkpoint_file,
)
from partreid.config import setup_cfg
from partreid.engine import DefaultTrainer
from partreid.modeling.meta_arch.build import build_model
from partreid.utils.errors import CheckpointError, ConfigError
from partreid.utils.testing import REPO_ROOT, TRAIN_NET, tiny_model_cfg, tiny_run_folder, tiny_synthvi_opts

CONFIG = os.path.join(REPO_ROOT, "configs", "synthvi_baseline.yaml")


class Payload:
    """Unpickling this calls open(marker, "w"): the file appears if the loader runs code."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (open, (self.marker, "w"))


def _tool(name):
    spec = importlib.util.spec_from_file_location(f"{name}_tool", os.path.join(REPO_ROOT, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def poisoned(tmp_path):
    """(weights with a payload, marker path) in a run folder with its config.yaml."""
    marker = tmp_path / "payload_ran"
    weights = tiny_run_folder(tmp_path / "run", extra={"payload": Payload(marker)})
    with open(tmp_path / "run" / "last_checkpoint", "w") as f:
        f.write("model_final.pth")
    return weights, marker


def test_the_payload_runs_under_a_plain_torch_load(poisoned, tmp_path):
    """The control: the file really carries code (so the refusals below can fail)."""
    weights, marker = poisoned
    torch.load(weights, weights_only=False)
    assert marker.exists()


def test_the_safe_loader_refuses_the_payload_naming_the_file(poisoned):
    weights, marker = poisoned
    with pytest.raises(UnsafeCheckpointError, match=rf"Refused to load {weights}: .*may contain code"):
        load_checkpoint_file(weights)
    assert not marker.exists()


def test_checkpointer_and_resume_refuse_the_payload(poisoned):
    weights, marker = poisoned
    model = build_model(tiny_model_cfg())
    with pytest.raises(UnsafeCheckpointError, match=weights):
        ReidCheckpointer(model).load(weights, checkpointables=[])  # MODEL.WEIGHTS
    with pytest.raises(UnsafeCheckpointError, match=weights):
        ReidCheckpointer(model, os.path.dirname(weights)).resume_or_load("", resume=True)  # --resume
    assert not marker.exists()


def test_tools_refuse_the_payload(poisoned, tmp_path):
    weights, marker = poisoned
    with pytest.raises(UnsafeCheckpointError, match=weights):
        _tool("extract_features").main(["--input", str(tmp_path), "--output", str(tmp_path / "f.npy"),
                                        "MODEL.WEIGHTS", weights])
    with pytest.raises(UnsafeCheckpointError, match=weights):
        _tool("export_onnx").main(["--output", str(tmp_path / "m.onnx"), "MODEL.WEIGHTS", weights])
    with pytest.raises(UnsafeCheckpointError, match=weights):
        _tool("visualize").main(["tsne", "--output", str(tmp_path / "t.png"), "MODEL.WEIGHTS", weights])
    assert not marker.exists()


def _train_net(*args):
    env = dict(os.environ, OMP_NUM_THREADS="1")
    env.pop("PARTREID_TRACEBACK", None)
    return subprocess.run([sys.executable, TRAIN_NET, *args], cwd=REPO_ROOT, env=env, capture_output=True,
                          text=True, timeout=300)


@pytest.mark.slow
def test_eval_only_refuses_the_payload_in_one_line(poisoned):
    weights, marker = poisoned
    proc = _train_net("--eval-only", "MODEL.WEIGHTS", weights)
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    assert proc.stderr.startswith(f"error: Refused to load {weights}: ") and proc.stderr.count("\n") == 1
    assert not marker.exists()


@pytest.mark.slow
def test_eval_only_of_a_2_part_model_with_a_4_part_config_fails_listing_the_tensors(tmp_path):
    """The model is built from --config-file (4 parts); the checkpoint holds 2: one line lists the
    tensors and names the run's config.yaml; nothing is evaluated or written."""
    weights = tiny_run_folder(tmp_path / "run", num_parts=2)
    four_parts = tmp_path / "four_parts.yaml"
    config = tiny_model_cfg()
    config.MODEL.PART_HEAD.NUM_PARTS = 4
    config.MODEL.NUM_CLASSES = 0
    four_parts.write_text(config.dump())
    proc = _train_net("--config-file", str(four_parts), "--eval-only", "MODEL.WEIGHTS", weights,
                      "OUTPUT_DIR", str(tmp_path / "eval"))
    assert proc.returncode == 2, proc.stdout[-2000:] + proc.stderr[-2000:]
    (line,) = proc.stderr.splitlines()
    assert line.startswith(f"error: {weights} does not fit this model (")
    assert "of another shape: " in line
    assert "part_head.detector.weight (checkpoint [2, 512, 1, 1], model [4, 512" in line
    assert f"it was trained with {tmp_path / 'run' / 'config.yaml'}" in line
    assert not os.path.exists(tmp_path / "eval" / "eval_results.json")


def test_a_checkpoint_that_does_not_fit_lists_missing_unexpected_and_mis_shaped(tmp_path):
    weights = tiny_run_folder(tmp_path / "run", num_parts=2)
    state = load_checkpoint_file(weights)["model"]
    state["stray.weight"] = torch.zeros(1)
    del state["bn_neck.bias"]
    torch.save({"model": state}, weights)
    cfg = tiny_model_cfg()
    cfg.MODEL.PART_HEAD.NUM_PARTS = 4
    with pytest.raises(CheckpointError) as error:
        ReidCheckpointer(build_model(cfg)).load(weights, checkpointables=[])
    message = str(error.value)
    assert "1 missing: bn_neck.bias" in message and "1 unexpected: stray.weight" in message
    assert "of another shape: " in message and "part_head.detector.weight" in message
    assert f"it was trained with {tmp_path / 'run' / 'config.yaml'}" in message
    os.remove(tmp_path / "run" / "config.yaml")
    with pytest.raises(CheckpointError, match="there is no config.yaml beside it"):
        ReidCheckpointer(build_model(cfg)).load(weights, checkpointables=[])


def test_the_config_of_a_checkpoint_is_its_run_folders_unless_one_is_given(tmp_path):
    weights = tiny_run_folder(tmp_path / "run")
    run_config = str(tmp_path / "run" / "config.yaml")
    assert config_file_for_weights("", ["MODEL.WEIGHTS", weights]) == (
        run_config, "the run folder's config.yaml beside MODEL.WEIGHTS")
    path, source = config_file_for_weights(CONFIG, ["MODEL.WEIGHTS", weights])
    assert path == CONFIG and source.startswith("--config-file; the checkpoint's run folder has its own " + run_config)
    os.remove(run_config)
    with pytest.raises(ConfigError, match=f"MODEL.WEIGHTS {weights} has no config.yaml beside it"):
        config_file_for_weights("", ["MODEL.WEIGHTS", weights])
    with pytest.raises(ConfigError, match="give --config-file"):
        config_file_for_weights("", [])


def test_a_corrupt_checkpoint_is_named(tmp_path):
    path = tmp_path / "model_final.pth"
    path.write_bytes(b"PK\x03\x04 not really a zip")
    with pytest.raises(UnreadableCheckpointError, match=rf"Checkpoint {path} is unreadable"):
        load_checkpoint_file(str(path))


def test_fine_tuning_skips_only_what_weights_may_skip_allows(tmp_path, caplog):
    """MODEL.WEIGHTS from a model trained on 9 identities into a run on SynthVI's 6: strict by
    default; with the classifiers in MODEL.WEIGHTS_MAY_SKIP, the rest loads and the skip is logged."""
    opts = tiny_synthvi_opts(str(tmp_path / "data"), str(tmp_path / "out"), **{"MODEL.DEVICE": "cpu"})
    other = setup_cfg(CONFIG, opts, freeze=False)
    other.MODEL.NUM_CLASSES = 9
    torch.manual_seed(1)
    source = build_model(other)
    weights = str(tmp_path / "other" / "model_final.pth")
    os.makedirs(os.path.dirname(weights))
    torch.save({"model": source.state_dict()}, weights)

    cfg = setup_cfg(CONFIG, opts + ["MODEL.WEIGHTS", weights])
    with pytest.raises(CheckpointError, match="classifier.weight .checkpoint .9, "):
        DefaultTrainer(cfg).resume_or_load(resume=False)

    cfg = setup_cfg(CONFIG, opts + ["MODEL.WEIGHTS", weights, "MODEL.WEIGHTS_MAY_SKIP", r'["(mean_)?classifier"]'])
    trainer = DefaultTrainer(cfg)
    with caplog.at_level(logging.WARNING, logger="partreid.checkpoint.loading"):
        trainer.resume_or_load(resume=False)
    (record,) = [r for r in caplog.records if "MODEL.WEIGHTS_MAY_SKIP" in r.getMessage()]
    assert "classifier.weight (checkpoint [9, " in record.getMessage()
    loaded = trainer.plain_model.state_dict()
    for key, value in source.state_dict().items():
        if not key.startswith(("classifier", "mean_classifier")):
            assert torch.equal(loaded[key], value), key
