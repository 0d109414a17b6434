"""The model server: real processes on loopback, V1 and V2 protocols, errors and metrics."""

from __future__ import annotations

import json
import re
import time

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.deployment.deploy_model import processes
from kfp_mlops.components.deployment.deploy_model.smoke import (
    ReadyTimeout,
    request,
    smoke_test,
    wait_ready,
)


def test_feature_encoder_matches_the_preprocessor():
    """The server's numpy transform equals split_and_preprocess's pandas one (categoricals too)."""
    from kfp_mlops.components.data.split_and_preprocess.core import Preprocessor
    from kfp_mlops.components.serving.features import FeatureEncoder

    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "a": rng.normal(5, 2, 60),
            "b": rng.integers(0, 9, 60),
            "colour": rng.choice(["red", "green", "blue"], 60),
            "size": rng.choice(["S", "M"], 60),
            "target": rng.choice(["x", "y"], 60),
        }
    )
    pre = Preprocessor.fit(frame, "target")
    enc = FeatureEncoder(pre)
    test = frame.drop(columns="target").head(7).copy()
    test.loc[3, "colour"] = "purple"  # unknown category -> all zeros, as in the preprocessor
    rows = test[enc.columns].values.tolist()
    got = enc.encode([r[:2] for r in rows], [r[2:] for r in rows])
    np.testing.assert_allclose(got, pre.transform_features(test), rtol=1e-6)
    from kserve.errors import InvalidInput

    with pytest.raises(InvalidInput, match="feature 'b' of row 1 must be a finite number"):
        enc.encode([[1.0, 2.0], [1.0, "x"]], [["red", "S"], ["red", "S"]])


def start(models, folder, name: str, tmp_path_factory, backend: str = "auto"):
    log = tmp_path_factory.mktemp(name) / "server.log"
    return processes.start_server(
        str(folder), str(models.preprocessor), "clf", log, backend=backend
    ), str(log)


@pytest.fixture(scope="module")
def keras_server(models, tmp_path_factory):
    proc, log = start(models, models.good, "keras", tmp_path_factory, backend="keras")
    try:
        wait_ready(proc.url, "clf", 300, alive=lambda: processes.exit_message(proc.pid, log))
        yield proc.url
    finally:
        assert processes.stop(proc.pid)
        assert not processes.is_alive(proc.pid)


@pytest.fixture(scope="module")
def tflite_server(models, tmp_path_factory):
    proc, log = start(models, models.tflite, "tflite", tmp_path_factory)
    try:
        wait_ready(proc.url, "clf", 240, alive=lambda: processes.exit_message(proc.pid, log))
        yield proc.url
    finally:
        processes.stop(proc.pid)


def predict(url, body, protocol="v1"):
    path = "/v1/models/clf:predict" if protocol == "v1" else "/v2/models/clf/infer"
    return request(url, "POST", path, body, timeout=30)


@pytest.mark.slow
def test_readiness_and_metadata(models, keras_server):
    assert request(keras_server, "GET", "/v2/health/ready").body == {"ready": True}
    assert request(keras_server, "GET", "/v2/health/live").status == 200
    assert request(keras_server, "GET", "/v1/models/clf").body == {"name": "clf", "ready": True}
    meta = request(keras_server, "GET", "/v2/models/clf").body
    assert [i["name"] for i in meta["inputs"]] == models.inputs
    assert {i["datatype"] for i in meta["inputs"]} == {"FP32"}
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {
        "predictions": [-1],
        "probabilities": [-1, 2],
    }
    report = smoke_test(keras_server, "clf", models.rows(5), models.classes, models.inputs)
    assert report.ok, report.reason


@pytest.mark.slow
def test_v1_and_v2_agree(models, keras_server):
    rows = models.rows(6)
    v1 = predict(keras_server, {"instances": rows})
    assert v1.status == 200
    assert len(v1.body["predictions"]) == 6
    assert set(v1.body["predictions"]) <= set(models.classes)
    probs = np.array(v1.body["probabilities"])
    assert probs.shape == (6, 2)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, atol=1e-5)

    as_lists = predict(keras_server, {"instances": [[r[c] for c in models.inputs] for r in rows]})
    assert as_lists.body == v1.body

    per_feature = {
        "inputs": [
            {"name": c, "shape": [6], "datatype": "FP32", "data": [r[c] for r in rows]}
            for c in models.inputs
        ]
    }
    v2 = predict(keras_server, per_feature, "v2")
    assert v2.status == 200, v2.body
    outputs = {o["name"]: o for o in v2.body["outputs"]}
    assert outputs["predictions"]["data"] == v1.body["predictions"]
    assert outputs["probabilities"]["shape"] == [6, 2]
    np.testing.assert_allclose(
        np.array(outputs["probabilities"]["data"]).reshape(6, 2), probs, rtol=1e-6
    )
    matrix = {
        "inputs": [
            {
                "name": "rows",
                "shape": [6, len(models.inputs)],
                "datatype": "FP32",
                "data": [[r[c] for c in models.inputs] for r in rows],
            }
        ]
    }
    v2m = predict(keras_server, matrix, "v2")
    assert {o["name"]: o for o in v2m.body["outputs"]}["predictions"]["data"] == v1.body[
        "predictions"
    ]


@pytest.mark.slow
def test_keras_and_tflite_backends_agree(models, keras_server, tflite_server):
    rows = models.rows(10)
    a = predict(keras_server, {"instances": rows}).body
    b = predict(tflite_server, {"instances": rows}).body
    assert a["predictions"] == b["predictions"]
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-4)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("body", "protocol", "match"),
    [
        ("drop", "v1", r"instance 1 is missing feature\(s\) \['mean_area'\]"),
        ({"rows": []}, "v1", 'must be \\{"instances"'),
        ({"instances": []}, "v1", "non-empty list"),
        ({"instances": [[1.0, 2.0]]}, "v1", "instance 0 has 2 values but the model takes 30"),
        ({"instances": ["text"]}, "v1", "instance 0 is a str"),
        ("non_numeric", "v1", "feature 'mean_radius' of row 0 must be a finite number"),
        (
            {"inputs": [{"name": "mean_area", "shape": [1], "datatype": "FP32", "data": [1.0]}]},
            "v2",
            r"inputs \['mean_radius'.*are missing \(29 in all\)",
        ),
    ],
)
def test_bad_requests_are_400_naming_the_problem(models, tflite_server, body, protocol, match):
    if body == "drop":
        rows = models.rows(2)
        del rows[1]["mean_area"]
        body = {"instances": rows}
    elif body == "non_numeric":
        body = {"instances": [dict(models.rows(1)[0], mean_radius="big")]}
    r = predict(tflite_server, body, protocol)
    assert r.status == 400, r.body
    assert re.search(match, r.body["error"]), r.body


@pytest.mark.slow
def test_metrics_endpoint(models, tflite_server):
    predict(tflite_server, {"instances": models.rows(4)})
    predict(tflite_server, {"instances": [[1.0]]})
    text = request(tflite_server, "GET", "/metrics").body

    from prometheus_client.parser import text_string_to_metric_families

    samples = [
        (sample.name, sample.labels, sample.value)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    ]

    def total(name: str, **labels: str) -> float:
        found = [v for n, got, v in samples if n == name and labels.items() <= got.items()]
        assert found, (name, labels)
        return sum(found)

    # No preprocessor beside the model and no KFP_MLOPS_MODEL_VERSION: version "unknown".
    clf = {"model": "clf", "version": "unknown"}
    ok = total("kfp_mlops_requests_total", endpoint="v1_predict", status="200", **clf)
    assert ok >= 1
    bad = total("kfp_mlops_requests_total", endpoint="v1_predict", status="400", **clf)
    assert bad >= 1
    assert total("kfp_mlops_request_latency_seconds_count", endpoint="v1_predict", **clf) >= 2
    assert total("model_errors_total", type="invalid_input", endpoint="v1_predict", **clf) >= 1
    assert total("model_errors_total", type="inference_error", **clf) == 0
    assert total("kfp_mlops_predictions_total", **clf) >= 4
    assert total("kfp_mlops_model_ready", **clf) == 1
    assert "request_predict_seconds" in text  # KServe's own histograms are there too


@pytest.mark.slow
@pytest.mark.parametrize(
    ("folder", "cause"),
    [
        (
            "tflite_wrong_shape",
            "the model outputs 3 values per row but the preprocessor has 2 classes",
        ),
        ("tflite_truncated", "not a valid Flatbuffer"),
    ],
)
def test_a_model_that_cannot_load_keeps_the_server_unready(models, tmp_path_factory, folder, cause):
    proc, log = start(models, getattr(models, folder), folder, tmp_path_factory)
    try:
        # Wait for the load to fail (however slow the machine), not for a fixed time.
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and (
            "NOT ready" not in open(log).read()
            or request(proc.url, "GET", "/v2/health/live").status != 200
        ):
            assert processes.exit_message(proc.pid, log) is None
            time.sleep(0.2)
        with pytest.raises(ReadyTimeout, match="not ready after 2 s"):
            wait_ready(proc.url, "clf", 2, alive=lambda: processes.exit_message(proc.pid, log))
        assert request(proc.url, "GET", "/v2/health/ready").status == 503
        r = predict(proc.url, {"instances": models.rows(1)})
        assert r.status == 503
        assert "not ready" in r.body["error"] and cause in r.body["error"]
        assert "restart the server" in r.body["error"]  # the fix, not only the problem
        assert request(proc.url, "GET", "/v2/health/live").status == 200  # alive, not ready
        text = open(log).read()
        assert "NOT ready" in text and cause in text
    finally:
        processes.stop(proc.pid)


@pytest.mark.slow
def test_a_model_producing_nan_answers_500(models, tmp_path_factory):
    proc, log = start(models, models.tflite_nan, "nan", tmp_path_factory)
    try:
        wait_ready(proc.url, "clf", 240, alive=lambda: processes.exit_message(proc.pid, log))
        r = predict(proc.url, {"instances": models.rows(3)})
        assert r.status == 500
        error = r.body["error"]
        assert error.startswith("the model produced non-finite probabilities for 3 of 3 rows; ")
        assert "retrain or re-optimize it and redeploy" in error
    finally:
        processes.stop(proc.pid)


@pytest.mark.slow
def test_bad_preprocessor_exits_with_a_message(tmp_path):
    bad = tmp_path / "pre.json"
    bad.write_text(json.dumps({"classes": ["a"]}))
    proc = processes.start_server(str(tmp_path), str(bad), "clf", tmp_path / "log.txt")
    msg = None
    for _ in range(600):
        msg = processes.exit_message(proc.pid, str(tmp_path / "log.txt"))
        if msg:
            break
        time.sleep(0.1)
    assert msg and "exited (code 2)" in msg
    assert "lacks" in (tmp_path / "log.txt").read_text()


def test_manifest_args_are_the_server_command_line():
    from kfp_mlops.components.deployment.deploy_model import manifests as m
    from kfp_mlops.components.serving.__main__ import build_parser

    spec = m.ServingSpec("clf", "ns", "v1", "gs://b/clf/v1", backend="tflite")
    container = m.inference_service(spec)["spec"]["predictor"]["containers"][0]
    assert container["command"][-1] == "kfp_mlops.components.serving"
    args = build_parser().parse_args(container["args"])
    assert (args.model_dir, args.preprocessor) == ("/mnt/models", "/mnt/models/preprocessor.json")
    assert (args.model_name, args.http_port, args.backend) == ("clf", 8080, "tflite")
    assert args.host == "0.0.0.0"  # in a pod; the server's own default is loopback
    assert build_parser().parse_args(container["args"][:4]).host == "127.0.0.1"


def test_tf_threads_flag_defaults_to_one_and_rejects_negatives(file_inputs, capsys):
    from kfp_mlops.components.serving.__main__ import build_parser, main

    root, _ = file_inputs
    base = ["--model-dir", str(root / "v1"), "--preprocessor", str(root / "preprocessor.json")]
    assert build_parser().parse_args(base).tf_threads == 1
    assert main([*base, "--tf-threads", "-1"]) == 2
    assert "--tf-threads must be >= 0, got -1" in capsys.readouterr().err
