"""A regression model served: numbers in the target's units over V1 and V2, and the deploy
smoke test's regression checks, on a real server process."""

import numpy as np
import pytest

from kfp_mlops.components.deployment.deploy_model.smoke import request, smoke_test

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def regressor(tmp_path_factory):
    """A small Keras regressor on diabetes (standardised target) and its preprocessor."""
    from sklearn.datasets import load_diabetes

    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    tf = import_tf()
    frame = load_diabetes(as_frame=True).frame
    split = split_and_preprocess(frame, standardize_target=True)
    x = split.train.drop(columns=["label"]).to_numpy()
    tf.keras.utils.set_random_seed(0)
    model = tf.keras.Sequential(
        [tf.keras.Input(shape=(x.shape[1],)), tf.keras.layers.Dense(8, "relu"),
         tf.keras.layers.Dense(1)]
    )  # fmt: skip
    model.compile("adam", "mse")
    model.fit(x, split.train["label"].to_numpy(), epochs=20, verbose=0)
    root = tmp_path_factory.mktemp("regressor")
    model.save(str(root / "model.h5"), save_format="h5")
    split.preprocessor.save(str(root / "preprocessor.json"))
    rows = frame.drop(columns=["target"]).head(4).to_dict(orient="records")
    raw = split.preprocessor.transform_features(frame.head(4))
    expected = split.preprocessor.decode_labels(model.predict(raw, verbose=0)[:, 0])
    return root, rows, expected, split.preprocessor


def test_regression_server_answers_numbers_in_target_units(serve, regressor):
    root, rows, expected, proc = regressor
    url = serve(root, root / "preprocessor.json")
    meta = request(url, "GET", "/v2/models/clf").body
    assert meta["outputs"] == [{"name": "predictions", "datatype": "FP32", "shape": [-1]}]
    v1 = request(url, "POST", "/v1/models/clf:predict", {"instances": rows}).body
    np.testing.assert_allclose(v1["predictions"], expected, rtol=1e-4)
    assert "probabilities" not in v1
    assert 25 < min(v1["predictions"]) and max(v1["predictions"]) < 350  # disease units
    body = {
        "inputs": [
            {"name": c, "shape": [len(rows)], "datatype": "FP32", "data": [r[c] for r in rows]}
            for c in proc.raw_columns
        ]
    }
    v2 = request(url, "POST", "/v2/models/clf/infer", body).body
    out = {o["name"]: o for o in v2["outputs"]}
    assert out["predictions"]["shape"] == [len(rows)] and out["predictions"]["datatype"] == "FP32"
    np.testing.assert_allclose(out["predictions"]["data"], expected, rtol=1e-4)
    # The deploy smoke test accepts it as a regression model (no classes) ...
    report = smoke_test(url, "clf", rows, [], proc.raw_columns)
    assert report.ok, report.reason
    # ... and refuses it as a classifier: a regression answer has no probabilities.
    wrong = smoke_test(url, "clf", rows, ["a", "b"], proc.raw_columns)
    assert not wrong.ok and "probabilities" in wrong.reason
