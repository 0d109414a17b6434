"""The optimization record (``optimization.json``) that prune and quantize write.

The record says, in words, what each optimization step did (the registry's model card
prints it: ``pruning: ...``, ``quantization: ...``), so a pipeline does not have to spell it
out. prune_model also records the SHA-256 of the ``model.h5`` its float32 ``model.tflite``
was converted from: quantize_model, given that directory, reuses the file as its float32
baseline instead of converting the same weights again.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.model_dir import OPTIMIZATION_FILE, TFLITE_FILE

log = logging.getLogger(__name__)

#: The record's file name in a Model directory (the model-directory contract's name).
RECORD_FILE = OPTIMIZATION_FILE
#: Record key: SHA-256 of the Keras file the directory's float32 ``model.tflite`` came from.
FLOAT_TFLITE_SOURCE = "float_tflite_from_keras_sha256"
#: Record keys describing steps, in pipeline order (carried from input to output).
STEPS = ("distillation", "pruning", "quantization")


def sha256_of(path: str | Path) -> str:
    """Hex SHA-256 of a file's bytes."""
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def read_record(model_dir: str | Path) -> dict[str, Any]:
    """The directory's record; empty when it has none or it is not a JSON object."""
    path = Path(model_dir) / RECORD_FILE
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except ValueError:
        log.warning("%s is not valid JSON; ignored", path)
        return {}
    return data if isinstance(data, dict) else {}


def write_record(output_dir: str | Path, input_dir: str | Path, **fields: Any) -> dict[str, Any]:
    """Write the output directory's record: the input's steps, then ``fields``.

    Steps recorded by earlier components (prune's ``pruning`` in quantize's output) are
    kept; provenance of the input's files (:data:`FLOAT_TFLITE_SOURCE`) is not, since the
    output's files are new.

    Returns:
        The record written.
    """
    carried = read_record(input_dir) if Path(input_dir).is_dir() else {}
    record = {k: v for k, v in carried.items() if k in STEPS}
    record.update(fields)
    path = Path(output_dir) / RECORD_FILE
    path.write_text(json.dumps(record, indent=1, sort_keys=False) + "\n", encoding="utf-8")
    return record


def reusable_float_tflite(model_dir: str | Path, keras_path: str | Path) -> bytes | None:
    """The directory's float32 ``model.tflite`` if it was converted from ``keras_path``'s weights.

    The record's :data:`FLOAT_TFLITE_SOURCE` must equal the SHA-256 of ``keras_path``; any
    other TFLite file (an int8 one, or one from other weights) is not reused.
    """
    root = Path(model_dir)
    tflite = root / TFLITE_FILE
    if not root.is_dir() or not tflite.is_file():
        return None
    source = read_record(root).get(FLOAT_TFLITE_SOURCE)
    if not source or source != sha256_of(keras_path):
        return None
    log.info("reusing %s: the float32 conversion of these weights", tflite)
    return tflite.read_bytes()
