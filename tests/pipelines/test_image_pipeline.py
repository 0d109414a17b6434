"""Images through the whole training_pipeline (kfp.local): builtin:digits_images (8x8 PNGs)
-> validate (decode, shape, labels) -> drift (channel statistics + PCA) -> split (pixels) ->
tune -> train builtin:cnn (2 Horovod workers) -> prune (conv kernels) -> int8 -> evaluate ->
register -> deploy (real servers on loopback) -> promote; the int8 CNN answers base64 PNGs
(V1) and UINT8 tensors (V2), then monitoring_pipeline judges it on a brightness-shifted copy."""

import base64
import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from kfp_mlops.pipelines.tooling.local_runner import run_local

pytestmark = [pytest.mark.slow, pytest.mark.trainer]

MODEL = "digits-cnn"
PARAMS = {
    "source": "builtin:digits_images",
    "reference_source": "builtin:digits_images",
    "model_fn": "builtin:cnn",
    "registered_model_name": MODEL,
    "tune_trials": 1,
    "tune_epochs": 3,
    "epochs": 15,
    "num_workers": 2,
    "min_accuracy": 0.9,
    # 270 test images: one image is 0.37 pp, so the optimisation gates get a few images.
    "max_accuracy_drop": 3.0,
    # Lenient latency limits: a loaded CI machine must not flip the verdict.
    "max_latency_p50_ms": 1e9,
    "max_latency_p95_ms": 1e9,
    "max_latency_p99_ms": 1e9,
    "canary_max_p95_ms": 1e9,
}


def _task(run, prefix):
    return next(t for t in run.tasks if t.task == prefix or t.task.startswith(prefix + "-"))


def _post(url, body):
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=30) as response:  # loopback only
        return json.loads(response.read())


def _shifted_folder(root: Path) -> str:
    """The digits with brightness and contrast changed, written as an image folder."""
    from kfp_mlops.components.common import images
    from kfp_mlops.components.data.load_dataset.images import digits_images, write_folder

    frame = digits_images()
    frame["image"] = [
        images.encode_png(np.clip(images.decode(b) * 0.6 + 60, 0, 255).astype(np.uint8))
        for b in frame["image"]
    ]
    write_folder(frame, root)
    return str(root)


def test_digit_images_run_the_whole_training_pipeline(tmp_path):
    from kfp_mlops.components.common import images
    from kfp_mlops.components.data.load_dataset.images import digits_images
    from kfp_mlops.components.deployment.deploy_model.targets import stop_local

    run = run_local("training_pipeline", dict(PARAMS), pipeline_root=str(tmp_path))
    try:
        assert _task(run, "validate-data").parameters["Output"] is True
        split = _task(run, "split-and-preprocess")
        assert split.parameters["Output"] == 10
        pre = json.loads(Path(split.artifacts["preprocessor"]).read_text())
        assert pre["task"]["feature_kind"] == "image" and pre["task"]["image_shape"] == [8, 8, 1]
        train = _task(run, "train-model")
        assert train.metrics["workers"] == 2 and train.metrics["val_accuracy"] > 0.85
        prune = _task(run, "prune-model")
        assert prune.metrics["sparsity_conv_0"] == pytest.approx(0.5, abs=0.02)
        quantize = _task(run, "quantize-model")
        assert quantize.metrics["gzipped_size_ratio"] > 2.0  # int8 against float32
        evaluation = _task(run, "evaluate-model")
        assert evaluation.parameters["Output"] is True and evaluation.metrics["accuracy"] >= 0.9
        assert _task(run, "promote-model") is not None

        # The promoted int8 CNN answers images through the router: V1 base64 PNGs and a V2
        # UINT8 tensor give the same classes, and most of them are right.
        state = json.loads((tmp_path / "serving" / MODEL / "state.json").read_text())
        base = f"http://127.0.0.1:{state['router']['port']}"
        frame = digits_images().sample(20, random_state=0)
        b64 = [{"b64": base64.b64encode(b).decode()} for b in frame["image"]]
        v1 = _post(f"{base}/v1/models/{MODEL}:predict", {"instances": b64})["predictions"]
        pixels = np.stack([images.decode(b) for b in frame["image"]])
        v2_body = {
            "inputs": [
                {
                    "name": "image",
                    "shape": list(pixels.shape),
                    "datatype": "UINT8",
                    "data": pixels.reshape(-1).tolist(),
                }
            ]
        }
        v2 = _post(f"{base}/v2/models/{MODEL}/infer", v2_body)
        assert np.mean(np.asarray(v1, dtype=str) == frame["target"].to_numpy()) >= 0.85
        v2_labels = next(o for o in v2["outputs"] if o["name"] == "predictions")["data"]
        assert [str(p) for p in v2_labels] == [str(p) for p in v1]

        # Monitoring: the unshifted digits are judged fine; a brightness/contrast-shifted
        # copy is image drift.
        monitored = run_local(
            "monitoring_pipeline",
            {
                "current_source": _shifted_folder(tmp_path / "shifted"),
                "reference_source": "builtin:digits_images",
                "registered_model_name": MODEL,
                "retrain_on": "",
            },
            pipeline_root=str(tmp_path),
        )
        monitor = _task(monitored, "monitor-model")
        assert "accuracy" in monitor.metrics
        result = json.loads(Path(monitor.artifacts["result_json"]).read_text())
        drifted = result["feature_drift"]["drifted_features"]
        assert any(name.startswith("channel_0_") for name in drifted), drifted
    finally:
        stop_local(str(tmp_path / "serving"), MODEL)
