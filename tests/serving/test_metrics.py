"""The server's metrics: model and version labels, ``model_errors_total`` by error type."""

import shutil

import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from kfp_mlops.components.common.model_dir import PREPROCESSOR_FILE, version_of
from kfp_mlops.components.deployment.deploy_model.smoke import request
from kfp_mlops.components.serving import metrics
from kfp_mlops.components.serving.server import VERSION_ENV


def value(name: str, **labels: str) -> float | None:
    return REGISTRY.get_sample_value(name, labels)


@pytest.mark.parametrize(
    ("status", "kind"),
    [
        (200, None),
        (302, None),
        (400, "invalid_input"),
        (404, "model_not_found"),
        (413, "request_too_large"),
        (422, "client_error"),
        (500, "inference_error"),
        (501, "not_implemented"),
        (503, "model_not_ready"),
        (504, "server_error"),
    ],
)
def test_error_type_of_a_status(status, kind):
    assert metrics.error_type(status) == kind


@pytest.mark.parametrize(
    ("path", "endpoint"),
    [
        ("/v1/models/m:predict", "v1_predict"),
        ("/v1/models/m:explain", "v1_explain"),
        ("/v2/models/m/infer", "v2_infer"),
        ("/v1/models/m", "health"),
        ("/v2/health/ready", "health"),
        ("/v2/models/m", "metadata"),
        ("/metrics", "metrics"),
        ("/docs", "other"),
    ],
)
def test_endpoint_of_a_path(path, endpoint):
    assert metrics.endpoint_of(path) == endpoint


def test_requests_and_errors_carry_the_registered_version():
    metrics.register_served("unit-a", "7")
    labels = {"model": "unit-a", "version": "7"}
    # Started at 0 so that rate() sees the first error.
    assert value("model_errors_total", type="inference_error", endpoint="v1_predict", **labels) == 0
    metrics.record("/v1/models/unit-a:predict", 200, 0.003)
    metrics.record("/v1/models/unit-a:predict", 500, 0.004)
    metrics.record("/v2/models/unit-a/infer", 400, 0.001)
    metrics.record("/v1/models/unit-a", 503, 0.001)  # readiness, not an inference error
    req = "kfp_mlops_requests_total"
    assert value(req, endpoint="v1_predict", status="200", **labels) == 1
    assert value(req, endpoint="v1_predict", status="500", **labels) == 1
    assert value("model_errors_total", type="inference_error", endpoint="v1_predict", **labels) == 1
    assert value("model_errors_total", type="invalid_input", endpoint="v2_infer", **labels) == 1
    assert value("model_errors_total", type="model_not_ready", endpoint="v1_predict", **labels) == 0
    count = "kfp_mlops_request_latency_seconds_count"
    assert value(count, endpoint="v1_predict", **labels) == 2


def test_an_unregistered_model_name_is_not_a_label():
    metrics.record("/v1/models/typo-123:predict", 404, 0.001)
    names = {
        sample.labels.get("model")
        for family in text_string_to_metric_families(metrics_text())
        for sample in family.samples
    }
    assert "typo-123" not in names
    assert (
        value(
            "model_errors_total",
            model="",
            version="",
            type="model_not_found",
            endpoint="v1_predict",
        )
        >= 1
    )


def test_readiness_set_before_the_version_moves_to_it():
    metrics.READY.labels("unit-b").set(0)  # as the model does when it is built
    assert value("kfp_mlops_model_ready", model="unit-b", version="unknown") == 0
    metrics.register_served("unit-b", "v9")
    assert (
        value("kfp_mlops_model_ready", model="unit-b", version="unknown") is None
    )  # no stale series
    assert value("kfp_mlops_model_ready", model="unit-b", version="v9") == 0
    metrics.READY.labels("unit-b").set(1)
    metrics.PREDICTIONS.labels("unit-b", "yes").inc(3)
    assert value("kfp_mlops_model_ready", model="unit-b", version="v9") == 1
    predictions = "kfp_mlops_predictions_total"
    assert value(predictions, model="unit-b", version="v9", predicted_class="yes") == 3
    with pytest.raises(ValueError, match="must not be empty"):
        metrics.register_served("unit-b", "")


def metrics_text() -> str:
    from prometheus_client import generate_latest

    return generate_latest(REGISTRY).decode()


@pytest.mark.slow
def test_a_pod_layout_server_labels_the_deploys_content_version(
    models, serve, tmp_path, monkeypatch
):
    """Without KFP_MLOPS_MODEL_VERSION, a model with its preprocessor beside it (a registered
    model, a pod's /mnt/models) is labelled with the version deploy_model gives it."""
    monkeypatch.delenv(VERSION_ENV, raising=False)
    folder = tmp_path / "model"
    shutil.copytree(models.tflite, folder)
    shutil.copy(models.preprocessor, folder / PREPROCESSOR_FILE)
    url = serve(folder, folder / PREPROCESSOR_FILE)
    request(url, "POST", "/v1/models/clf:predict", {"instances": models.rows(2)})
    request(url, "POST", "/v1/models/nope:predict", {"instances": models.rows(1)})
    text = request(url, "GET", "/metrics").body
    samples = [
        (s.name, s.labels, s.value) for f in text_string_to_metric_families(text) for s in f.samples
    ]
    version = version_of(folder, folder / PREPROCESSOR_FILE)
    ok = [
        v
        for n, labels, v in samples
        if n == "kfp_mlops_requests_total"
        and labels
        == {"endpoint": "v1_predict", "status": "200", "model": "clf", "version": version}
    ]
    assert ok == [1.0]
    ready = [v for n, labels, v in samples if n == "kfp_mlops_model_ready"]
    assert ready == [1.0]  # one series: the versioned one
    assert not [labels for _, labels, _ in samples if labels.get("model") == "nope"]
