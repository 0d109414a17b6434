import json

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.split_and_preprocess.core import (
    LABEL,
    Preprocessor,
    split_and_preprocess,
)


def test_split_is_stratified_and_scaled_on_train_only(breast_cancer):
    result = split_and_preprocess(breast_cancer, seed=1)
    total = len(result.train) + len(result.validation) + len(result.test)
    assert total == len(breast_cancer)
    assert len(result.test) == pytest.approx(0.15 * total, abs=2)
    # Class balance preserved in every split (stratified).
    base = (breast_cancer["target"] == "benign").mean()
    benign = result.preprocessor.classes.index("benign")
    for split in (result.train, result.validation, result.test):
        assert (split[LABEL] == benign).mean() == pytest.approx(base, abs=0.03)
    features = result.train.drop(columns=[LABEL]).to_numpy()
    assert np.allclose(features.mean(axis=0), 0.0, atol=1e-5)
    assert np.allclose(features.std(axis=0), 1.0, atol=1e-2)
    # Test features are transformed with train statistics, so not exactly standardised.
    assert not np.allclose(
        result.test.drop(columns=[LABEL]).to_numpy().mean(axis=0), 0.0, atol=1e-5
    )
    assert result.train.drop(columns=[LABEL]).dtypes.unique().tolist() == [np.dtype("float32")]
    assert result.train[LABEL].dtype == np.int64


def test_same_seed_same_split(breast_cancer):
    a = split_and_preprocess(breast_cancer, seed=7)
    b = split_and_preprocess(breast_cancer, seed=7)
    c = split_and_preprocess(breast_cancer, seed=8)
    pd.testing.assert_frame_equal(a.test, b.test)
    assert not a.test.equals(c.test)


def test_multiclass_labels_sorted_naturally(digits):
    result = split_and_preprocess(digits)
    assert result.preprocessor.classes == [str(i) for i in range(10)]
    assert result.preprocessor.num_features == 64
    assert sorted(result.train[LABEL].unique()) == list(range(10))


def test_categorical_one_hot_and_unknown_category(tmp_path):
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "x": rng.normal(size=60),
            "colour": rng.choice(["red", "green", "blue"], size=60),
            "target": np.repeat(["a", "b"], 30),
        }
    )
    result = split_and_preprocess(frame)
    proc = result.preprocessor
    assert proc.categorical_columns == ["colour"]
    assert {"colour=red", "colour=green", "colour=blue"} == set(proc.feature_names[1:])
    onehot = result.train[[f for f in proc.feature_names if f.startswith("colour=")]].to_numpy()
    assert (onehot.sum(axis=1) == 1).all()
    unseen = proc.transform_features(pd.DataFrame({"x": [0.0], "colour": ["purple"]}))
    assert unseen[0, 1:].sum() == 0.0  # unknown category: all zeros, no error
    # Round trip through the JSON artifact.
    path = tmp_path / "pre.json"
    proc.save(str(path))
    assert json.loads(path.read_text())["categories"] == proc.categories
    again = Preprocessor.load(str(path))
    np.testing.assert_array_equal(
        again.transform_features(frame.head(5)), proc.transform_features(frame.head(5))
    )
    assert again.decode_labels([0, 1]) == ["a", "b"]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"validation_fraction": 0.0}, "validation_fraction=0.0"),
        ({"test_fraction": 1.5}, "test_fraction=1.5"),
        ({"validation_fraction": 0.5, "test_fraction": 0.45}, "too little for training"),
        ({"target_column": "nope"}, "target column 'nope' is missing"),
    ],
)
def test_bad_parameters(breast_cancer, kwargs, message):
    with pytest.raises((ParameterError, DataValidationError), match=message):
        split_and_preprocess(breast_cancer, **kwargs)


def test_bad_data(breast_cancer):
    with_nan = breast_cancer.copy()
    with_nan.loc[3, "mean_radius"] = np.nan
    with pytest.raises(DataValidationError, match=r"'mean_radius' \(1 rows\).*impute=True"):
        split_and_preprocess(with_nan, impute=False)
    one_class = breast_cancer.assign(target="benign")
    with pytest.raises(DataValidationError, match="single class"):
        split_and_preprocess(one_class)
    tiny = breast_cancer.copy()
    tiny.loc[:1, "target"] = "rare"
    with pytest.raises(DataValidationError, match="class 'rare' has only 2 rows"):
        split_and_preprocess(tiny)
    proc = split_and_preprocess(breast_cancer).preprocessor
    with pytest.raises(DataValidationError, match="not seen in the training split"):
        proc.encode_labels(pd.Series(["benign", "unknown"]))
    with pytest.raises(DataValidationError, match=r"missing.*send every feature"):
        proc.transform_features(breast_cancer.drop(columns=["mean_radius"]))


def test_bad_preprocessor_file(tmp_path):
    path = tmp_path / "x.json"
    path.write_text("{not json")
    with pytest.raises(ParameterError, match="not a preprocessor"):
        Preprocessor.load(str(path))


@pytest.mark.slow
def test_component_runs_in_kfp_local(kfp_local, tmp_path, breast_cancer):
    from kfp import dsl

    from kfp_mlops.components.data.load_dataset.component import load_dataset
    from kfp_mlops.components.data.split_and_preprocess.component import (
        split_and_preprocess as comp,
    )

    @dsl.pipeline(name="split-test")
    def pipe() -> int:
        data = load_dataset(source="builtin:wine")
        return comp(dataset=data.outputs["dataset"], seed=3).outputs["Output"]

    run = pipe()
    assert run.output == 3


def penguins_like(n: int = 300, seed: int = 0) -> pd.DataFrame:
    """Palmer-penguins-shaped: string labels, two categorical columns, gaps in both kinds."""
    rng = np.random.default_rng(seed)
    species = rng.choice(["Adelie", "Gentoo", "Chinstrap"], n)
    frame = pd.DataFrame(
        {
            "bill_length_mm": rng.normal(44, 5, n) + (species == "Gentoo") * 4,
            "flipper_length_mm": rng.normal(200, 14, n),
            "island": rng.choice(["Biscoe", "Dream", "Torgersen"], n),
            "sex": rng.choice(["male", "female"], n).astype(object),
            "species": species,
        }
    )
    frame.loc[[3, 50, 120], "bill_length_mm"] = np.nan
    frame.loc[[7, 8, 200, 250], "sex"] = None
    return frame


def test_real_table_with_gaps_is_imputed_from_train_only():
    frame = penguins_like()
    result = split_and_preprocess(frame, target_column="species", missing_indicator=True)
    proc = result.preprocessor
    assert result.imputed_values == {"bill_length_mm": 3, "sex": 4}
    assert result.summary()["imputed_values"] == 7
    assert proc.task_spec.task_type == "multiclass"
    assert proc.classes == ["Adelie", "Chinstrap", "Gentoo"]
    assert {"bill_length_mm__missing", "sex__missing"} <= set(proc.feature_names)
    for split in (result.train, result.validation, result.test):
        assert np.isfinite(split.drop(columns=[LABEL]).to_numpy()).all()
    # The fill value is the training median, not the median of all rows.
    train_rows = frame.loc[frame["species"].notna()]
    assert proc.fill_numeric[0] != pytest.approx(train_rows["bill_length_mm"].median(), abs=0)
    # Serving applies the same fill: a None gap encodes like the DataFrame transform.
    row = frame.iloc[[3, 7]]
    fast = proc.encode(
        [[None if pd.isna(v) else v for v in r] for r in row[proc.numeric_columns].to_numpy()],
        [[None if pd.isna(v) else v for v in r] for r in row[proc.categorical_columns].to_numpy()],
    )
    np.testing.assert_allclose(fast, proc.transform_features(row), rtol=1e-6)
    assert fast[0, proc.feature_names.index("bill_length_mm__missing")] == 1.0
    assert fast[1, proc.feature_names.index("sex__missing")] == 1.0


def test_unlabelled_rows_are_dropped_and_counted():
    frame = penguins_like()
    frame.loc[[10, 11], "species"] = None
    result = split_and_preprocess(frame, target_column="species")
    assert result.dropped_rows == 2
    assert sum(len(s) for s in (result.train, result.validation, result.test)) == len(frame) - 2


def test_without_imputation_a_gap_at_serving_is_named():
    proc = split_and_preprocess(penguins_like().dropna(), target_column="species", impute=False)
    proc = proc.preprocessor
    with pytest.raises(DataValidationError, match="'bill_length_mm' of row 0 is missing"):
        proc.encode([[None, 200.0]], [["Dream", "male"]])


def test_regression_split_on_the_diabetes_set():
    from sklearn.datasets import load_diabetes

    frame = load_diabetes(as_frame=True).frame
    result = split_and_preprocess(frame, standardize_target=True)
    spec = result.preprocessor.task_spec
    assert (spec.task_type, spec.primary_metric, spec.greater_is_better) == (
        "regression",
        "rmse",
        False,
    )
    assert spec.num_classes == 0 and spec.output_width == 1 and result.preprocessor.classes == []
    assert result.train[LABEL].dtype == np.float32
    # The standardised training target has mean 0 and sd 1; decoding gives the units back.
    assert result.train[LABEL].mean() == pytest.approx(0.0, abs=0.1)
    decoded = result.preprocessor.decode_labels(result.test[LABEL].to_numpy())
    assert min(decoded) > 20 and max(decoded) < 360  # diabetes progression units
    # Quantile stratification: every split spans the target's range.
    for split in (result.validation, result.test):
        assert split[LABEL].min() < -1.0 and split[LABEL].max() > 1.0
    from kfp_mlops.components.common.artifacts import SplitError, check_split

    check_split(result.train, "training", regression=True)
    with pytest.raises(SplitError, match="not integers"):
        check_split(result.train, "training")


def test_task_type_is_inferred_and_checked(breast_cancer, digits):
    assert split_and_preprocess(breast_cancer).preprocessor.task_spec.task_type == "binary"
    assert split_and_preprocess(digits).preprocessor.task_spec.task_type == "multiclass"
    with pytest.raises(ParameterError, match="does not fit 2 classes"):
        split_and_preprocess(breast_cancer, task_type="multiclass")
    with pytest.raises(ParameterError, match="task_type 'ranking'"):
        split_and_preprocess(breast_cancer, task_type="ranking")
    with pytest.raises(DataValidationError, match="non-numeric values"):
        split_and_preprocess(breast_cancer, task_type="regression")
