"""The model directory: which files a Model artifact holds, which one is served, cheap checks.

This module is the one owner of those names; train, optimize, evaluate, register, fetch,
deploy, serve and monitor import them. A Model artifact is a directory holding:

- ``model.h5``: the Keras 2 H5 model (``train_model``, ``prune_model``);
- ``model.tflite``: the TFLite model (``quantize_model``; ``prune_model``'s float export);
- ``saved_model/``: a SavedModel for KServe's TensorFlow runtime (``train_model``);
- ``preprocessor.json``: the fitted preprocessor with the task spec (copied beside the model
  by the registry; in a pipeline it travels as its own artifact);
- ``optimization.json``: what pruning / quantization did (read by the registry's model card);
- ``model_config.json``, ``history.json``, ``metrics.json``: training records;
- ``explain_background.json``: a small sample of training feature rows (``explain_model``,
  copied in by the registry) from which the model server builds its ``:explain`` explainer.

``auto`` serves ``model.tflite`` when the directory has one (the optimized model), else
``model.h5``. Checks here are cheap (file names and magic bytes, no TensorFlow import; only
the standard library, so the trainer env imports it too) so a deployment fails in a second,
with the file named, instead of after a model server has been started and timed out.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from kfp_mlops.components.common.errors import ParameterError

KERAS_FILE = "model.h5"
TFLITE_FILE = "model.tflite"
SAVED_MODEL_DIR = "saved_model"
SAVED_MODEL_PB = f"{SAVED_MODEL_DIR}/saved_model.pb"
ONNX_FILE = "model.onnx"
PREPROCESSOR_FILE = "preprocessor.json"
OPTIMIZATION_FILE = "optimization.json"
MODEL_CONFIG_FILE = "model_config.json"
HISTORY_FILE = "history.json"
METRICS_FILE = "metrics.json"
BACKGROUND_FILE = "explain_background.json"
#: Files (or folders) whose presence says which formats a directory holds, for model cards.
FORMAT_FILES = {
    KERAS_FILE: "Keras (H5)",
    SAVED_MODEL_DIR: "TensorFlow SavedModel",
    TFLITE_FILE: "TFLite",
    ONNX_FILE: "ONNX",
}
#: ``auto`` serves model.tflite when the directory has one (the optimized model), else model.h5.
BACKENDS = ("auto", "keras", "tflite")
_FILES = {"keras": KERAS_FILE, "tflite": TFLITE_FILE}
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_TFLITE_MAGIC = b"TFL3"  # FlatBuffer file identifier, bytes 4..8


class ModelBundleError(ParameterError):
    """A model directory or preprocessor cannot be served."""


def resolve_backend(model_dir: str | Path, backend: str = "auto") -> tuple[str, Path]:
    """Pick the backend and the model file to serve from a Model artifact directory.

    Raises:
        ModelBundleError: On an unknown backend, a missing directory or missing model file.
    """
    if backend not in BACKENDS:
        raise ModelBundleError(f"backend '{backend}' is not supported", f"use one of {BACKENDS}")
    root = Path(model_dir)
    if root.is_file():  # a bare model file is accepted too
        kind = "tflite" if root.suffix == ".tflite" else "keras"
        if backend not in ("auto", kind):
            raise ModelBundleError(
                f"'{root}' is a {kind} model but backend '{backend}' was asked for",
                f"use backend='{kind}' or 'auto'",
            )
        return kind, root
    if not root.is_dir():
        raise ModelBundleError(
            f"model directory '{root}' does not exist",
            "pass the model output of train_model or of an optimization component",
        )
    order = ["tflite", "keras"] if backend == "auto" else [backend]
    for kind in order:
        candidate = root / _FILES[kind]
        if candidate.is_file():
            return kind, candidate
    found = sorted(p.name for p in root.iterdir())[:10]
    wanted = " or ".join(_FILES[k] for k in order)
    raise ModelBundleError(
        f"model directory '{root}' has no {wanted} (it holds {found or 'nothing'})",
        "pass the model output of train_model (model.h5) or of an optimization component "
        "(model.tflite)",
    )


def check_model_file(kind: str, path: Path) -> None:
    """Reject an empty file or one whose magic bytes do not match its format.

    Raises:
        ModelBundleError: Naming the file and what was found instead.
    """
    try:
        head = path.read_bytes()[:8] if path.stat().st_size else b""
    except OSError as exc:
        raise ModelBundleError(f"cannot read '{path}': {exc}", "check the file") from exc
    if not head:
        raise ModelBundleError(f"'{path}' is empty", "re-run the component that wrote the model")
    if kind == "keras" and not head.startswith(_HDF5_MAGIC):
        raise ModelBundleError(
            f"'{path}' is not an HDF5 file (starts with {head!r})",
            "save the model with model.save('model.h5') (Keras 2 H5 format)",
        )
    if kind == "tflite" and head[4:8] != _TFLITE_MAGIC:
        raise ModelBundleError(
            f"'{path}' is not a TFLite flatbuffer (bytes 4..8 are {head[4:8]!r})",
            "write it with tf.lite.TFLiteConverter",
        )


def check_saved_model_signature(model_dir: str | Path) -> Path:
    """For KServe's TensorFlow runtime: the SavedModel must exist and have ``serving_default``.

    The signature key is stored as a plain string in ``saved_model.pb``, so a byte search
    finds it without importing TensorFlow.

    Raises:
        ModelBundleError: If the SavedModel or its serving signature is missing.
    """
    pb = Path(model_dir) / SAVED_MODEL_PB
    if not pb.is_file():
        raise ModelBundleError(
            f"'{model_dir}' has no {SAVED_MODEL_PB}",
            "export a SavedModel (train_model writes saved_model/) or deploy with the custom "
            "server runtime",
        )
    if b"serving_default" not in pb.read_bytes():
        raise ModelBundleError(
            f"'{pb}' has no 'serving_default' signature",
            "export it with tf.saved_model.save(model, path, signatures=...) or model.export()",
        )
    return pb


def check_preprocessor(path: str | Path) -> dict:
    """Read the preprocessor JSON and check the fields the server needs.

    Raises:
        ModelBundleError: If the file is missing, not JSON or lacks fields.
    """
    p = Path(path)
    try:
        data = json.loads(p.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ModelBundleError(
            f"cannot read the preprocessor '{p}': {exc}",
            "pass the preprocessor artifact of split_and_preprocess",
        ) from exc
    needed = ("classes", "feature_names", "numeric_columns", "categorical_columns")
    missing = [k for k in needed if k not in data]
    if missing:
        raise ModelBundleError(
            f"'{p}' lacks {missing}", "pass the preprocessor artifact of split_and_preprocess"
        )
    return data


def preflight(model_dir: str | Path, preprocessor: str | Path, backend: str = "auto") -> str:
    """All cheap checks of a deployable model; returns the backend that will serve it."""
    kind, path = resolve_backend(model_dir, backend)
    check_model_file(kind, path)
    check_preprocessor(preprocessor)
    return kind


def version_of(model_dir: str | Path, preprocessor: str | Path, backend: str = "auto") -> str:
    """Content version of what would be served: ``v`` + 10 hex digits of SHA-256.

    Same files -> same version, so re-deploying an unchanged model is recognised as a no-op
    and GitOps output is deterministic.
    """
    _, path = resolve_backend(model_dir, backend)
    digest = hashlib.sha256()
    digest.update(path.read_bytes())
    digest.update(Path(preprocessor).read_bytes())
    return "v" + digest.hexdigest()[:10]
