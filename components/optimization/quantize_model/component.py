"""KFP wrapper of :mod:`kfp_mlops.components.optimization.quantize_model.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def quantize_model(
    model: Input[Model],
    train: Input[Dataset],
    validation: Input[Dataset],
    test: Input[Dataset],
    quantized_model: Output[Model],
    metrics: Output[Metrics],
    mode: str = "int8",
    io_type: str = "int8",
    representative_rows: int = 100,
    qat_epochs: int = 0,
    batch_size: int = 32,
    learning_rate: float = 0.0001,
    float_ops: str = "",
    max_accuracy_drop: float = 0.5,
    gate_mode: str = "fail",
    latency_runs: int = 200,
    seed: int = 42,
    max_rmse_increase_pct: float = 2.0,
) -> bool:
    """Convert a Keras model to TFLite (int8, dynamic_range or float16), checked with LiteRT.

    Args:
        model: Keras model (directory with model.h5) from train_model or prune_model.
        train: Training split: int8 calibration rows and quantization-aware training data.
        validation: Validation split, monitored during quantization-aware training.
        test: Test split on which the Keras and TFLite models are compared.
        quantized_model: Directory with model.tflite; metadata: mode, io_type, blessed.
        metrics: size_bytes, gzipped_size_bytes and gzipped_size_ratio vs the input model's
            float32 TFLite, accuracy (LiteRT interpreter), accuracy_change_pp vs Keras,
            latency_p50_ms at batch 1 and latency_ratio vs float32 TFLite, sparsity.
        mode: int8 (full integer, calibrated), dynamic_range (int8 weights) or float16.
        io_type: int8, uint8 or float32 input/output tensors of an int8 model (other
            modes keep float32).
        representative_rows: Training rows used to calibrate int8 activations (>= 1).
        qat_epochs: Quantization-aware training epochs before an int8 conversion (0: none).
        batch_size: QAT batch size.
        learning_rate: QAT Adam learning rate.
        float_ops: Comma-separated TFLite ops (e.g. "SIN") allowed to stay float32 in an
            int8 model; any other op the converter cannot quantize fails the task.
        max_accuracy_drop: Largest accepted test-accuracy loss in percentage points
            (classification).
        gate_mode: fail (raise when the gate fails, or when the model has a layer or op
            this step cannot handle: the message names it) or mark (return False instead;
            for a layer or op it cannot handle, the input model is written through
            unchanged, metadata gate_reason says why and metrics holds skipped=1).
        latency_runs: Timed batch-1 inferences per latency measurement.
        max_rmse_increase_pct: Largest accepted test-RMSE increase in percent of the input
            model's (regression: float labels in the splits; rmse, baseline_rmse and
            rmse_change_pct replace the accuracy metrics).
        seed: Seed of the calibration sample and of QAT.

    Returns:
        blessed: True when the accuracy (or RMSE) gate passed and the step was applied.
    """
    from kfp_mlops.components.common.kfp_outputs import publish_optimized
    from kfp_mlops.components.optimization.quantize_model.core import quantize

    result = quantize(
        model.path,
        train.path,
        validation.path,
        test.path,
        quantized_model.path,
        mode=mode,
        io_type=io_type,
        representative_rows=representative_rows,
        qat_epochs=qat_epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        float_ops=float_ops,
        max_accuracy_drop=max_accuracy_drop,
        gate_mode=gate_mode,
        latency_runs=latency_runs,
        seed=seed,
        max_rmse_increase_pct=max_rmse_increase_pct,
    )
    return publish_optimized(metrics, quantized_model, result)
