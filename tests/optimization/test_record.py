"""Tests of the optimization record: steps carried forward, float TFLite reuse by its source."""

import json

from kfp_mlops.components.optimization.record import (
    FLOAT_TFLITE_SOURCE,
    RECORD_FILE,
    read_record,
    reusable_float_tflite,
    sha256_of,
    write_record,
)


def _pruned_dir(path, keras=b"keras weights", tflite=b"TFL3 float model"):
    path.mkdir()
    (path / "model.h5").write_bytes(keras)
    (path / "model.tflite").write_bytes(tflite)
    write_record(
        path,
        path.parent / "absent",
        pruning="pruned to 50%",
        **{FLOAT_TFLITE_SOURCE: sha256_of(path / "model.h5")},
    )
    return path


def test_the_next_step_keeps_earlier_steps_but_not_their_file_provenance(tmp_path):
    pruned = _pruned_dir(tmp_path / "pruned")
    assert read_record(pruned) == {
        "pruning": "pruned to 50%",
        FLOAT_TFLITE_SOURCE: sha256_of(pruned / "model.h5"),
    }
    out = tmp_path / "quantized"
    out.mkdir()
    written = write_record(out, pruned, quantization="int8 post-training")
    assert written == {"pruning": "pruned to 50%", "quantization": "int8 post-training"}
    assert json.loads((out / RECORD_FILE).read_text()) == written


def test_a_float_tflite_is_reused_only_for_the_weights_it_came_from(tmp_path):
    pruned = _pruned_dir(tmp_path / "pruned")
    assert reusable_float_tflite(pruned, pruned / "model.h5") == b"TFL3 float model"
    # Other weights (a retrained model.h5 beside a stale TFLite file): converted again.
    (pruned / "model.h5").write_bytes(b"other weights")
    assert reusable_float_tflite(pruned, pruned / "model.h5") is None


def test_no_record_or_no_tflite_means_no_reuse(tmp_path):
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "model.h5").write_bytes(b"w")
    (bare / "model.tflite").write_bytes(b"TFL3")
    assert reusable_float_tflite(bare, bare / "model.h5") is None  # e.g. an int8 model
    (bare / RECORD_FILE).write_text("not json")
    assert read_record(bare) == {}
    assert reusable_float_tflite(bare, bare / "model.h5") is None
    pruned = _pruned_dir(tmp_path / "pruned")
    (pruned / "model.tflite").unlink()
    assert reusable_float_tflite(pruned, pruned / "model.h5") is None
    assert reusable_float_tflite(pruned / "model.h5", pruned / "model.h5") is None  # a file
