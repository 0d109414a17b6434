"""KFP wrapper of :mod:`kfp_mlops.components.optimization.export_onnx.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def export_onnx(
    model: Input[Model],
    test: Input[Dataset],
    onnx_model: Output[Model],
    metrics: Output[Metrics],
    opset: int = 17,
    atol: float = 0.0001,
    max_accuracy_drop: float = 0.5,
    gate_mode: str = "fail",
    latency_runs: int = 200,
) -> bool:
    """Export a Keras model to ONNX (tf2onnx) and check onnxruntime reproduces it.

    Args:
        model: Keras model (directory with model.h5) from train_model or prune_model.
        test: Test split run through Keras and onnxruntime.
        onnx_model: Directory with model.onnx; metadata: opset, converter, blessed.
        metrics: size_bytes, gzipped_size_bytes, max_abs_diff vs Keras, accuracy,
            accuracy_change_pp, latency_p50_ms (onnxruntime, batch 1) and
            keras_latency_p50_ms (Keras predict_on_batch), sparsity.
        opset: ONNX opset, 13-18.
        atol: Largest accepted absolute difference between Keras and ONNX outputs; a
            larger one fails the task whatever gate_mode says.
        max_accuracy_drop: Largest accepted test-accuracy loss in percentage points.
        gate_mode: fail (raise when the gate fails) or mark (return False instead).
        latency_runs: Timed batch-1 inferences per latency measurement.

    Returns:
        blessed: True when the accuracy gate passed.
    """
    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.optimization.export_onnx.core import export

    result = export(
        model.path,
        test.path,
        onnx_model.path,
        opset=opset,
        atol=atol,
        max_accuracy_drop=max_accuracy_drop,
        gate_mode=gate_mode,
        latency_runs=latency_runs,
    )
    log_finite(metrics, result.metrics)
    onnx_model.metadata.update(result.metadata)
    return result.blessed
