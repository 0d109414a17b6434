"""Cheap checks of model files before anything is started."""

from __future__ import annotations

import json

import h5py
import pytest

from kfp_mlops.components.common import model_dir as bundle


@pytest.fixture
def preprocessor(tmp_path):
    path = tmp_path / "preprocessor.json"
    path.write_text(
        json.dumps(
            {
                "target_column": "target",
                "classes": ["a", "b"],
                "numeric_columns": ["x"],
                "mean": [0.0],
                "scale": [1.0],
                "categorical_columns": [],
                "categories": [],
                "feature_names": ["x"],
            }
        )
    )
    return path


def h5(path):
    path.parent.mkdir(parents=True, exist_ok=True)
    with h5py.File(path, "w") as f:  # a real (empty) HDF5 file
        f.attrs["note"] = "test"
    return path


def test_missing_directory(tmp_path, preprocessor):
    with pytest.raises(bundle.ModelBundleError, match="does not exist"):
        bundle.preflight(tmp_path / "nope", preprocessor)


def test_directory_without_model_files_names_what_it_holds(tmp_path, preprocessor):
    (tmp_path / "m").mkdir()
    (tmp_path / "m" / "history.json").write_text("{}")
    with pytest.raises(bundle.ModelBundleError, match=r"no model.tflite or model.h5.*history.json"):
        bundle.preflight(tmp_path / "m", preprocessor)


def test_auto_prefers_tflite_and_explicit_backend_is_honoured(tmp_path):
    h5(tmp_path / "m" / "model.h5")
    (tmp_path / "m" / "model.tflite").write_bytes(b"\x1c\x00\x00\x00TFL3" + b"\x00" * 8)
    assert bundle.resolve_backend(tmp_path / "m")[0] == "tflite"
    assert bundle.resolve_backend(tmp_path / "m", "keras")[0] == "keras"
    with pytest.raises(bundle.ModelBundleError, match="backend 'onnx'"):
        bundle.resolve_backend(tmp_path / "m", "onnx")


def test_empty_and_wrong_format_files_are_rejected(tmp_path, preprocessor):
    (tmp_path / "e").mkdir()
    (tmp_path / "e" / "model.h5").write_bytes(b"")
    with pytest.raises(bundle.ModelBundleError, match="is empty"):
        bundle.preflight(tmp_path / "e", preprocessor)
    (tmp_path / "t").mkdir()
    (tmp_path / "t" / "model.h5").write_text("<html>not a model</html>")
    with pytest.raises(bundle.ModelBundleError, match="not an HDF5 file"):
        bundle.preflight(tmp_path / "t", preprocessor)
    (tmp_path / "f").mkdir()
    (tmp_path / "f" / "model.tflite").write_bytes(b"PK\x03\x04zipfile!")
    with pytest.raises(bundle.ModelBundleError, match="not a TFLite flatbuffer"):
        bundle.preflight(tmp_path / "f", preprocessor)


def test_preprocessor_checks(tmp_path):
    h5(tmp_path / "m" / "model.h5")
    bad = tmp_path / "bad.json"
    bad.write_text('{"classes": ["a"]}')
    with pytest.raises(bundle.ModelBundleError, match="lacks"):
        bundle.preflight(tmp_path / "m", bad)
    with pytest.raises(bundle.ModelBundleError, match="cannot read the preprocessor"):
        bundle.preflight(tmp_path / "m", tmp_path / "missing.json")


def test_saved_model_signature(tmp_path):
    with pytest.raises(bundle.ModelBundleError, match="no saved_model/saved_model.pb"):
        bundle.check_saved_model_signature(tmp_path)
    pb = tmp_path / "saved_model" / "saved_model.pb"
    pb.parent.mkdir()
    pb.write_bytes(b"\x08\x01\x12\x0bsome_other_fn")
    with pytest.raises(bundle.ModelBundleError, match="no 'serving_default' signature"):
        bundle.check_saved_model_signature(tmp_path)
    pb.write_bytes(b"\x08\x01\x12\x0fserving_default")
    assert bundle.check_saved_model_signature(tmp_path) == pb


def test_version_is_content_based(tmp_path, preprocessor):
    h5(tmp_path / "a" / "model.h5")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "model.h5").write_bytes((tmp_path / "a" / "model.h5").read_bytes())
    va, vb = (bundle.version_of(tmp_path / d, preprocessor) for d in "ab")
    assert va == vb
    assert va.startswith("v") and len(va) == 11
    with h5py.File(tmp_path / "b" / "model.h5", "a") as f:
        f.attrs["note"] = "changed"
    assert bundle.version_of(tmp_path / "b", preprocessor) != va
