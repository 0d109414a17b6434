"""data_validation_pipeline through kfp.local: bad data stops it at validation (nothing
downstream runs), and a table with no reference is validated on its own, without drift."""

import json
from pathlib import Path

import pytest

from kfp_mlops.pipelines.tooling.local_runner import collect, run_local

pytestmark = pytest.mark.slow


def _run_dir(root):
    [run_dir] = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("data-validation")]
    return run_dir


def test_missing_column_stops_before_the_split(tmp_path, breast_cancer):
    bad = tmp_path / "bad.csv"
    breast_cancer.drop(columns=["mean_radius"]).to_csv(bad, index=False)
    root = tmp_path / "runs"
    params = {"source": str(bad), "reference_source": "builtin:breast_cancer"}
    with pytest.raises(RuntimeError, match="validate-data"):
        run_local("data_validation_pipeline", params, pipeline_root=str(root))
    tasks = {t.task for t in collect(_run_dir(root))}
    assert "load-dataset" in tasks
    # Task names of the reference branch may carry a suffix (validate-data-2, ...).
    assert not any(t.startswith(("split-and-preprocess", "validate-data")) for t in tasks)


def test_wine_csv_without_reference_is_validated_on_its_own(tmp_path):
    from sklearn.datasets import load_wine

    wine = tmp_path / "wine.csv"
    load_wine(as_frame=True).frame.to_csv(wine, index=False)
    root = tmp_path / "runs"
    run_local("data_validation_pipeline", {"source": str(wine)}, pipeline_root=str(root))
    tasks = {t.task: t for t in collect(_run_dir(root))}
    assert not any(name.startswith("detect-drift") for name in tasks), "no reference: no drift"
    [validate] = [t for name, t in tasks.items() if name.startswith("validate-data")]
    assert validate.metrics["suite_from_data"] == 1.0
    assert validate.metrics["failed_expectations"] == 0.0
    result = json.loads(Path(validate.artifacts["validation_result"]).read_text())
    assert result["suite"]["meta"]["derived_from"] == "data"
    assert "alcohol" in result["suite"]["expectations"][0]["kwargs"]["column_set"]
    [split] = [t for name, t in tasks.items() if name.startswith("split-and-preprocess")]
    assert split.metrics["num_classes"] == 3
