"""The one preprocessor: fast array path, inverse and champion re-encoding agree with the
DataFrame transform, and the task spec travels inside its JSON."""

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor


@pytest.fixture
def frame():
    rng = np.random.default_rng(0)
    n = 200
    return pd.DataFrame(
        {
            "age": rng.normal(40, 10, n),
            "income": rng.lognormal(10, 1, n),
            "city": rng.choice(["paris", "rome", "oslo"], n),
            "plan": rng.choice(["a", "b"], n),
            "target": rng.choice(["no", "yes"], n),
        }
    )


def test_fit_writes_the_task_spec_and_it_survives_save_load(frame, tmp_path):
    proc = Preprocessor.fit(frame, "target")
    assert proc.task_spec == TaskSpec.for_classes("target", ["no", "yes"], proc.feature_names)
    proc.save(str(tmp_path / "p.json"))
    again = Preprocessor.load(str(tmp_path / "p.json"))
    assert again == proc and again.task_spec.task_type == "binary"
    assert TaskSpec.load(tmp_path / "p.json") == proc.task_spec


def test_array_encode_equals_the_dataframe_transform(frame):
    proc = Preprocessor.fit(frame, "target")
    rows = frame.head(17).copy()
    rows.loc[rows.index[3], "city"] = "lima"  # unknown category -> all zeros in both
    fast = proc.encode(
        rows[proc.numeric_columns].to_numpy().tolist(),
        rows[proc.categorical_columns].to_numpy().tolist(),
    )
    np.testing.assert_allclose(fast, proc.transform_features(rows), rtol=1e-6)
    assert fast[3, proc.feature_names.index("city=paris")] == 0.0


def test_array_encode_names_the_bad_value(frame):
    proc = Preprocessor.fit(frame, "target")
    with pytest.raises(DataValidationError, match="feature 'income' of row 0 .* 'abc'"):
        proc.encode([[1.0, "abc"]], [["paris", "a"]])
    with pytest.raises(DataValidationError, match="finite number"):
        proc.encode([[float("nan"), 1.0]], [["paris", "a"]])


def test_inverse_recovers_the_raw_rows(frame):
    proc = Preprocessor.fit(frame, "target")
    raw = proc.inverse_features(proc.transform_features(frame))
    np.testing.assert_allclose(raw["age"], frame["age"], rtol=1e-5)
    assert raw["city"].tolist() == frame["city"].tolist()
    with pytest.raises(ParameterError, match="do not fit"):
        proc.inverse_features(np.zeros((2, 3)))


def test_reencode_matches_encoding_the_raw_rows_with_the_target(frame):
    source = Preprocessor.fit(frame.iloc[:120], "target")
    target = Preprocessor.fit(frame.iloc[60:], "target")  # other means, scales
    test = frame.iloc[150:]
    moved = target.reencode(source.transform_features(test), source)
    np.testing.assert_allclose(moved, target.transform_features(test), rtol=1e-4, atol=1e-5)


def test_reencode_refuses_incomparable_models(frame):
    source = Preprocessor.fit(frame, "target")
    other = Preprocessor.fit(
        frame.assign(target=frame["target"].map({"no": "x", "yes": "y"})), "target"
    )
    with pytest.raises(ParameterError, match="not comparable"):
        other.reencode(source.transform_features(frame), source)
    narrow = Preprocessor.fit(frame.drop(columns=["plan"]), "target")
    with pytest.raises(ParameterError, match="categorical column 'plan'"):
        source.reencode(narrow.transform_features(frame), narrow)
