"""ONNX export of the retrieval path and resumable feature extraction, on a tiny random model."""
import importlib.util
import os

import cv2
import numpy as np
import pytest
import torch

from partreid.utils.testing import tiny_model_cfg
from partreid.export import export_onnx, extract_features, features, list_images, load_features, onnx_max_abs_difference
from partreid.export.features import paths_file
from partreid.modeling.meta_arch.build import build_model

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _tiny_cfg():
    cfg = tiny_model_cfg()
    cfg.INPUT.SIZE_TEST = [64, 32]
    return cfg


@pytest.fixture(scope="module")
def tiny_model():
    torch.manual_seed(0)
    model = build_model(_tiny_cfg())
    # non-trivial BN statistics, so that the exported graph's normalisation is exercised
    model.train()
    with torch.no_grad():
        for _ in range(2):
            model.describe(model.preprocess(torch.randint(0, 256, (8, 3, 64, 32), dtype=torch.uint8)))
    return model.eval()


@pytest.fixture(scope="module")
def image_folder(tmp_path_factory):
    root = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(0)
    for i in range(10):
        sub = root / ("cam1" if i < 5 else "cam3")
        sub.mkdir(exist_ok=True)
        cv2.imwrite(str(sub / f"{i:04d}.png"), rng.integers(0, 256, (40 + i, 20 + i, 3), dtype=np.uint8))
    return str(root)


def _load_tool(name):
    spec = importlib.util.spec_from_file_location(name, os.path.join(REPO, "tools", f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_onnx_matches_pytorch_with_dynamic_batch(tiny_model, tmp_path):
    path = export_onnx(tiny_model, str(tmp_path / "model.onnx"), [64, 32])
    images = torch.randint(0, 256, (5, 3, 64, 32), dtype=torch.uint8, generator=torch.Generator().manual_seed(1))
    scale = float(tiny_model({"images": images}).abs().max())
    assert scale > 0
    assert onnx_max_abs_difference(tiny_model, path, images) <= 1e-4 * max(scale, 1.0)
    with pytest.raises(TypeError, match="uint8"):
        onnx_max_abs_difference(tiny_model, path, images.float())


@pytest.mark.slow
def test_export_tool_uses_the_run_config_and_sizes_classes_from_checkpoint(tiny_model, tmp_path):
    """A run folder (weights + config.yaml, MODEL.NUM_CLASSES 0): without --config-file the tool
    builds the model from that config.yaml, says so, and records its config beside the .onnx."""
    weights = str(tmp_path / "model_final.pth")
    torch.save({"model": tiny_model.state_dict()}, weights)
    run_config = _tiny_cfg()
    run_config.MODEL.NUM_CLASSES = 0
    (tmp_path / "config.yaml").write_text(run_config.dump())
    tool = _load_tool("export_onnx")
    difference = tool.main(["--output", str(tmp_path / "onnx" / "out.onnx"), "MODEL.WEIGHTS", weights])
    assert difference <= 1e-3
    assert os.path.isfile(tmp_path / "onnx" / "out.onnx")
    record = (tmp_path / "onnx" / "out_config.yaml").read_text()
    assert f"WEIGHTS: {weights}" in record and "NUM_CLASSES: 4" in record
    assert (tmp_path / "config.yaml").read_text() == run_config.dump()


def test_extract_features_tool_records_its_config_beside_the_features(tiny_model, image_folder, tmp_path):
    weights = str(tmp_path / "run" / "model_final.pth")
    os.makedirs(tmp_path / "run")
    torch.save({"model": tiny_model.state_dict()}, weights)
    (tmp_path / "run" / "config.yaml").write_text(_tiny_cfg().dump())
    output = str(tmp_path / "feats.npy")
    features = _load_tool("extract_features").main(["--input", image_folder, "--output", output, "--num-workers", "0",
                                                    "MODEL.WEIGHTS", weights, "TEST.FLIP_FEATURES", "True"])
    assert features.shape == (10, 3 * 512)
    record = (tmp_path / "feats_config.yaml").read_text()
    assert "FLIP_FEATURES: true" in record and f"WEIGHTS: {weights}" in record
    assert (tmp_path / "run" / "config.yaml").read_text() == _tiny_cfg().dump()


def test_list_images_folder_and_list(image_folder, tmp_path):
    paths = list_images(image_folder)
    assert len(paths) == 10 and paths == sorted(paths)
    listing = tmp_path / "list.txt"
    listing.write_text("\n".join(os.path.relpath(p, tmp_path) for p in paths[:3]) + "\n\n")
    assert [os.path.realpath(p) for p in list_images(str(listing))] == [os.path.realpath(p) for p in paths[:3]]
    listing.write_text("missing.jpg\n")
    with pytest.raises(FileNotFoundError, match="missing.jpg"):
        list_images(str(listing))
    with pytest.raises(ValueError, match="expected an existing folder"):
        list_images(str(tmp_path / "nope"))


def test_interrupted_extraction_resumes_to_the_clean_result(tiny_model, image_folder, tmp_path, monkeypatch):
    paths = list_images(image_folder)
    options = dict(size_hw=[64, 32], batch_size=2, chunk_size=3)
    clean = extract_features(tiny_model, paths, str(tmp_path / "clean.npy"), **options)
    assert clean.shape == (10, 3 * 512) and clean.dtype == np.float32
    assert not os.path.exists(tmp_path / "clean.npy.chunks")
    loaded, loaded_paths = load_features(str(tmp_path / "clean.npy"))
    np.testing.assert_array_equal(loaded, clean)
    assert loaded_paths == paths

    # crash after 2 of the 4 chunks: those 2 stay, the output does not exist yet
    output = str(tmp_path / "resumed.pt")
    written = []
    real_write = features._write_chunk

    def write_then_crash(path, array):
        if len(written) == 2:
            raise RuntimeError("simulated crash")
        real_write(path, array)
        written.append(path)

    monkeypatch.setattr(features, "_write_chunk", write_then_crash)
    with pytest.raises(RuntimeError, match="simulated crash"):
        extract_features(tiny_model, paths, output, **options)
    assert sorted(os.listdir(output + ".chunks")) == ["chunk_00000.npy", "chunk_00001.npy", "manifest.json"]
    assert not os.path.exists(output)

    # the rerun computes only the 2 missing chunks and ends where the clean run ended
    written.clear()
    monkeypatch.setattr(features, "_write_chunk", lambda path, array: (real_write(path, array), written.append(path)))
    resumed = extract_features(tiny_model, paths, output, **options)
    assert [os.path.basename(p) for p in written] == ["chunk_00002.npy", "chunk_00003.npy"]
    np.testing.assert_allclose(resumed, clean, rtol=1e-5, atol=1e-6)
    loaded, loaded_paths = load_features(output)
    np.testing.assert_allclose(loaded, clean, rtol=1e-5, atol=1e-6)
    assert loaded_paths == paths
    with open(paths_file(output)) as f:
        assert f.read().splitlines() == paths
    assert not os.path.exists(output + ".chunks")


def test_chunks_of_another_extraction_are_refused(tiny_model, image_folder, tmp_path, monkeypatch):
    paths = list_images(image_folder)
    output = str(tmp_path / "feats.npy")
    monkeypatch.setattr(features, "_write_chunk", lambda path, array: (_ for _ in ()).throw(RuntimeError("stop")))
    with pytest.raises(RuntimeError, match="stop"):
        extract_features(tiny_model, paths, output, size_hw=[64, 32], chunk_size=4)
    with pytest.raises(ValueError, match="holds chunks of another extraction"):
        extract_features(tiny_model, paths[:5], output, size_hw=[64, 32], chunk_size=4)
    with pytest.raises(ValueError, match="expected a file name ending in .npy or .pt"):
        extract_features(tiny_model, paths, str(tmp_path / "feats.csv"), size_hw=[64, 32])
