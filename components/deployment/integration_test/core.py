"""Replay a labelled sample against a live model server and judge it like evaluation does.

:func:`run_integration_test` turns the processed test split back into raw rows
(``Preprocessor.inverse_features``), sends them to the endpoint URL the deploy step reported
over KServe V1 and/or V2 (real HTTP requests to the real server, not a copy of the model),
scores the answers with :mod:`kfp_mlops.components.common.metrics`, times single-row
requests on the same server, and applies the release gate of
:mod:`kfp_mlops.components.evaluation.evaluate_model.gate` (accuracy or RMSE, latency
p50/p95/p99) plus an error-rate limit. With ``protocol="both"`` the V2 answers must also
agree with the V1 ones.
"""

from __future__ import annotations

import json
import logging
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError, ServiceUnavailableError
from kfp_mlops.components.common.metrics import (
    classification_metrics,
    compute_metrics,
    regression_metrics,
)
from kfp_mlops.components.deployment.deploy_model.manifests import MAX_ISVC_NAME, k8s_name
from kfp_mlops.components.deployment.deploy_model.smoke import ReadyTimeout, wait_ready
from kfp_mlops.components.deployment.integration_test.replay import (
    Replay,
    measure_latency,
    replay,
)
from kfp_mlops.components.evaluation.evaluate_model.gate import Check, Thresholds, gate

log = logging.getLogger(__name__)

PROTOCOLS = ("v1", "v2", "both")


@dataclass
class Sample:
    """The labelled rows replayed: raw feature rows and their labels.

    Attributes:
        rows: Raw feature rows (column -> value), JSON-ready.
        labels: Class codes (classification) or targets in their own units (regression).
        classes: Class names, index = code (empty for regression).
        inputs: Raw feature columns in the server's order.
    """

    rows: list[dict[str, Any]]
    labels: np.ndarray
    classes: list[str]
    inputs: list[str]

    @property
    def is_classification(self) -> bool:
        """Whether the model predicts classes."""
        return bool(self.classes)


@dataclass
class IntegrationResult:
    """Everything :func:`run_integration_test` measured and decided."""

    url: str
    model_name: str
    protocol: str
    rows: int
    scalars: dict[str, float]
    checks: list[Check]
    replays: list[Replay]
    task_type: str

    @property
    def passed(self) -> bool:
        """Every check passed."""
        return all(c.passed for c in self.checks)

    @property
    def failures(self) -> list[str]:
        """Messages of the failed checks."""
        return [c.message for c in self.checks if not c.passed]


def load_sample(test_path: str, preprocessor_path: str, max_rows: int = 0) -> Sample:
    """The processed test split as raw rows with labels (the first ``max_rows``; 0: all).

    Image models get ``{"image": {"b64": <PNG>}}`` rows, the test images re-encoded.

    Raises:
        ParameterError: For a split that does not fit the preprocessor.
        SplitError: If the split is missing or breaks the contract.
    """
    from kfp_mlops.components.common.artifacts import LABEL, read_split
    from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor

    pre = Preprocessor.load(preprocessor_path)
    task = pre.task_spec
    frame = read_split(test_path, "test", regression=not task.is_classification)
    if list(frame.columns.drop(LABEL)) != list(pre.feature_names):
        raise ParameterError(
            f"the test split's {len(frame.columns) - 1} feature columns are not the "
            f"preprocessor's {pre.num_features}",
            "pass the test split and preprocessor of the same split_and_preprocess run",
        )
    features = frame[list(pre.feature_names)].to_numpy(dtype="float64")
    if task.is_classification:
        labels = frame[LABEL].to_numpy(dtype="int64")
    else:  # the split may hold the standardised target; the server answers in real units
        labels = np.asarray(task.decode_target(frame[LABEL].to_numpy("float64")), "float64")
    if max_rows > 0:
        features, labels = features[:max_rows], labels[:max_rows]
    raw = pre.inverse_features(features)
    if pre.image_column:  # the test images again as PNGs, sent base64 as a client would
        from kfp_mlops.components.common.images import to_base64

        inputs = [pre.image_column]
        rows = [{inputs[0]: {"b64": to_base64(b)}} for b in raw[inputs[0]]]
        return Sample(rows, labels, [str(c) for c in task.classes], inputs)
    inputs = list(pre.numeric_columns) + list(pre.categorical_columns)
    rows = json.loads(raw[inputs].to_json(orient="records"))  # NaN -> null, a gap the server fills
    return Sample(rows, labels, [str(c) for c in task.classes], inputs)


def score(sample: Sample, answers: Replay) -> dict[str, float]:
    """Quality of the answered rows (accuracy... or RMSE...) and the share answered."""
    ok = [i for i, p in enumerate(answers.predictions) if p is not None]
    if not ok:
        return {"answered": 0.0}
    y = sample.labels[ok]
    if not sample.is_classification:
        preds = np.asarray([float(answers.predictions[i]) for i in ok])
        scalars = dict(regression_metrics(y, preds).scalars)
    else:
        index = {c: j for j, c in enumerate(sample.classes)}
        probs = [answers.probabilities[i] for i in ok]
        if all(isinstance(p, list) and len(p) == len(index) for p in probs):
            metrics = compute_metrics(y, np.asarray(probs, "float64"), sample.classes)
            scalars = dict(metrics.scalars)
        else:  # no probabilities: score the labels alone
            codes = np.asarray([index.get(str(answers.predictions[i]), -1) for i in ok])
            scalars = classification_metrics(y, codes, len(index))
    scalars["answered"] = len(ok) / len(sample.rows)
    return {k: float(v) for k, v in scalars.items()}


def agreement(first: Replay, second: Replay, classification: bool) -> float:
    """Share of rows both protocols answered alike (labels equal; numbers within 1e-4)."""
    pairs = [
        (a, b)
        for a, b in zip(first.predictions, second.predictions, strict=True)
        if a is not None and b is not None
    ]
    if not pairs:
        return 0.0
    if classification:
        same = sum(str(a) == str(b) for a, b in pairs)
    else:
        same = sum(math.isclose(float(a), float(b), rel_tol=1e-4, abs_tol=1e-6) for a, b in pairs)
    return same / len(first.predictions)


def _check_params(url: str, protocol: str, thresholds: Thresholds, max_error_rate: float) -> None:
    if not url.strip():
        raise ParameterError(
            "endpoint_url is empty: the deployment reported no URL reachable from here "
            "(the gitops target leaves serving to its controller)",
            "deploy staging to target local or cluster, or pass the service URL as endpoint_url",
        )
    if not url.startswith(("http://", "https://")):
        raise ParameterError(
            f"endpoint_url '{url}' is not an http(s) URL", "pass e.g. http://127.0.0.1:8080"
        )
    if protocol not in PROTOCOLS:
        raise ParameterError(f"protocol '{protocol}' is not supported", f"use one of {PROTOCOLS}")
    if not 0.0 <= thresholds.min_accuracy <= 1.0:
        raise ParameterError(
            f"min_accuracy {thresholds.min_accuracy} is outside [0, 1]", "use e.g. 0.95"
        )
    if not 0.0 <= max_error_rate < 1.0:
        raise ParameterError(f"max_error_rate {max_error_rate} is outside [0, 1)", "use 0.01")


def _error_check(replays: list[Replay], latency_errors: int, max_error_rate: float) -> Check:
    requests = sum(r.requests for r in replays)
    errors = sum(r.errors for r in replays) + latency_errors
    rate = errors / requests if requests else 0.0
    ok = rate <= max_error_rate
    first = next((p for r in replays for p in r.problems), "")
    detail = f" (first: {first})" if first else ""
    return Check(
        "error_rate",
        ok,
        f"error rate {rate:.1%} ({errors} failed requests) {'<=' if ok else '>'} "
        f"max_error_rate {max_error_rate:.1%}{detail}",
    )


def run_integration_test(
    test_path: str,
    preprocessor_path: str,
    endpoint_url: str,
    model_name: str,
    thresholds: Thresholds | None = None,
    *,
    protocol: str = "v1",
    max_error_rate: float = 0.01,
    max_rows: int = 0,
    latency_requests: int = 100,
    batch_size: int = 32,
    ready_timeout_s: float = 60.0,
    timeout_s: float = 30.0,
) -> IntegrationResult:
    """Replay the test split against the live endpoint and apply the release gate.

    Args:
        test_path: Processed test split (Parquet with a ``label`` column).
        preprocessor_path: The preprocessor JSON of the same run.
        endpoint_url: Base URL of the live service (deploy_model's ``endpoint``).
        model_name: Model name as given to deploy_model (made Kubernetes-safe the same way).
        thresholds: Quality and latency limits (a latency limit <= 0 is off).
        protocol: ``v1``, ``v2`` or ``both`` (then V2 must agree with V1 on every row).
        max_error_rate: Highest share of failed requests.
        max_rows: Rows replayed (0: the whole split).
        latency_requests: Timed single-row requests.
        batch_size: Rows per quality request.
        ready_timeout_s: How long the endpoint may take to answer as ready.
        timeout_s: Per-request timeout.

    Raises:
        ParameterError: On bad parameters or data, before any request is sent.
        ServiceUnavailableError: If the endpoint is not ready in time.
    """
    from kfp_mlops.components.common.task import TaskSpec

    thresholds = thresholds or Thresholds()
    _check_params(endpoint_url, protocol, thresholds, max_error_rate)
    if latency_requests < 1 or batch_size < 1:
        raise ParameterError(
            f"latency_requests {latency_requests} and batch_size {batch_size} must be >= 1",
            "use e.g. latency_requests=100, batch_size=32",
        )
    task = TaskSpec.load(preprocessor_path)
    sample = load_sample(test_path, preprocessor_path, max_rows)
    url = endpoint_url.rstrip("/")
    # The server serves the name deploy_model made Kubernetes-safe.
    model_name = k8s_name(model_name, MAX_ISVC_NAME)
    try:
        wait_ready(url, model_name, ready_timeout_s)
    except ReadyTimeout as exc:
        raise ServiceUnavailableError(
            f"the endpoint {url} did not answer as ready for '{model_name}': {exc.problem}",
            "check that the deployment is live and that endpoint_url and model_name are "
            "the deployed service's",
        ) from exc
    protocols = ["v1", "v2"] if protocol == "both" else [protocol]
    replays = [replay(url, model_name, sample, p, batch_size, timeout_s) for p in protocols]
    scalars = score(sample, replays[0])
    latency, latency_errors = measure_latency(
        url, model_name, sample, protocols[0], latency_requests, timeout_s
    )
    scalars.update(latency)
    decision = gate(scalars, thresholds, None, task=task, no_champion_reason="integration test")
    checks = [c for c in decision.checks if c.name != "champion"]  # no comparison here
    checks.append(_error_check(replays, latency_errors, max_error_rate))
    if len(replays) == 2:
        share = agreement(replays[0], replays[1], sample.is_classification)
        scalars["v1_v2_agreement"] = share
        ok = share >= 1.0
        checks.append(
            Check("v1_v2_agreement", ok, f"V2 answers agree with V1 on {share:.1%} of the rows")
        )
    scalars["rows"] = float(len(sample.rows))
    result = IntegrationResult(
        url, model_name, protocol, len(sample.rows), scalars, checks, replays, task.task_type
    )
    log.info(
        "integration test of %s at %s: %s",
        model_name,
        url,
        "passed" if result.passed else "; ".join(result.failures),
    )
    return result
