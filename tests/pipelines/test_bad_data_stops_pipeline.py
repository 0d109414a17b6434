"""Bad data stops a pipeline at validation: nothing downstream (split, training) runs."""

import pytest

from kfp_mlops.pipelines.tooling.local_runner import collect, run_local

pytestmark = pytest.mark.slow


def test_missing_column_stops_before_the_split(tmp_path, breast_cancer):
    bad = tmp_path / "bad.csv"
    breast_cancer.drop(columns=["mean_radius"]).to_csv(bad, index=False)
    root = tmp_path / "runs"
    with pytest.raises(RuntimeError, match="validate-data"):
        run_local("data_validation_pipeline", {"source": str(bad)}, pipeline_root=str(root))
    [run_dir] = [p for p in root.iterdir() if p.is_dir() and p.name.startswith("data-validation")]
    tasks = {t.task for t in collect(run_dir)}
    assert "load-dataset" in tasks
    assert "split-and-preprocess" not in tasks and "validate-data" not in tasks
