import json

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.registry.common import RegistryError
from kfp_mlops.components.registry.fetch_champion.core import fetch
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.register_model.core import register


@pytest.fixture
def store(tmp_path, monkeypatch):
    """A real MLflow SQLite store (tracking + registry); artifacts under tmp_path."""
    monkeypatch.chdir(tmp_path)
    return f"sqlite:///{tmp_path / 'mlflow.db'}"


def _outputs(tmp_path):
    out = tmp_path / "out"
    return str(out / "model"), str(out / "pre.json"), str(out / "baseline.json")


def test_fetches_model_preprocessor_and_baseline(store, tmp_path, make_model_dir, evaluation):
    pre = tmp_path / "preprocessor.json"
    pre.write_text(json.dumps({"classes": ["benign", "malignant"]}))
    model_dir = make_model_dir(b"weights-v1", tflite=True)
    reg = register(
        model_dir,
        evaluation,
        tracking_uri=store,
        name="clf",
        blessed=True,
        preprocessor_path=str(pre),
    )
    promote(store, "clf", reg.version)
    model, pre_out, baseline = _outputs(tmp_path)
    champion = fetch(store, "clf", model, pre_out, baseline)
    assert champion.version == reg.version
    assert (tmp_path / "out" / "model" / "model.h5").read_bytes() == b"weights-v1"
    assert (tmp_path / "out" / "model" / "model.tflite").exists()
    assert json.loads((tmp_path / "out" / "pre.json").read_text())["classes"] == [
        "benign",
        "malignant",
    ]
    saved = json.loads((tmp_path / "out" / "baseline.json").read_text())
    assert saved["accuracy"] == pytest.approx(0.97) and saved["f1"] == pytest.approx(0.96)
    assert champion.baseline == saved
    # The registry's creation time travels in the metadata, for monitoring's age trigger.
    from kfp_mlops.components.monitoring.monitor_model.quality import created_from_metadata

    meta = champion.metadata("clf")
    assert meta["version"] == reg.version and meta["creation_timestamp"] > 1.7e12
    assert created_from_metadata(meta).year >= 2026


def test_no_champion_says_to_run_training_first(store, tmp_path, make_model_dir, evaluation):
    register(make_model_dir(b"w"), evaluation, tracking_uri=store, name="clf", blessed=True)
    with pytest.raises(RegistryError, match="has no 'champion'.*run training_pipeline first"):
        fetch(store, "clf", *_outputs(tmp_path))
    with pytest.raises(RegistryError, match="run training_pipeline first"):
        fetch(store, "never-registered", *_outputs(tmp_path))


def test_champion_without_preprocessor_is_refused(store, tmp_path, make_model_dir, evaluation):
    reg = register(make_model_dir(b"w"), evaluation, tracking_uri=store, name="clf", blessed=True)
    promote(store, "clf", reg.version)
    with pytest.raises(ParameterError, match="registered without preprocessor.json"):
        fetch(store, "clf", *_outputs(tmp_path))


def test_unreachable_registry(tmp_path):
    from tests.conftest import free_port

    uri = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(RegistryError, match="unreachable"):
        fetch(uri, "clf", *_outputs(tmp_path))
