"""KFP wrapper of :mod:`kfp_mlops.components.optimization.prune_model.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def prune_model(
    model: Input[Model],
    train: Input[Dataset],
    validation: Input[Dataset],
    test: Input[Dataset],
    pruned_model: Output[Model],
    metrics: Output[Metrics],
    initial_sparsity: float = 0.0,
    final_sparsity: float = 0.5,
    epochs: int = 2,
    batch_size: int = 32,
    learning_rate: float = 0.001,
    max_accuracy_drop: float = 0.5,
    gate_mode: str = "fail",
    latency_runs: int = 200,
    seed: int = 42,
    max_rmse_increase_pct: float = 2.0,
) -> bool:
    """Magnitude-prune the Dense and conv kernels (tfmot PolynomialDecay), fine-tune and strip.

    Args:
        model: Trained Keras model (directory with model.h5) from train_model.
        train: Training split, used to fine-tune while pruning.
        validation: Validation split, monitored during fine-tuning.
        test: Test split on which input and pruned model are compared.
        pruned_model: Directory with model.h5 (stripped Keras model, input of
            quantize_model / export_onnx) and model.tflite (its float32 TFLite conversion);
            metadata: per-layer sparsity, schedule, blessed.
        metrics: sparsity (overall and sparsity_<layer>), size_bytes and gzipped_size_bytes
            of model.h5, tflite_gzipped_size_bytes and gzipped_size_ratio vs the input
            model's float32 TFLite, accuracy, accuracy_change_pp, latency_p50_ms (LiteRT,
            float32 TFLite, batch 1) and latency_ratio.
        initial_sparsity: Sparsity at the first pruning step, in [0, 1).
        final_sparsity: Target sparsity, in [initial_sparsity, 0.95]; the task fails if the
            achieved sparsity is more than 2 pp below it.
        epochs: Fine-tuning epochs; the schedule's steps follow from them and the rows.
        batch_size: Fine-tuning batch size.
        learning_rate: Adam learning rate of the fine-tuning.
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
        seed: Seed of the fine-tuning.

    Returns:
        blessed: True when the accuracy (or RMSE) gate passed and the step was applied.
    """
    from kfp_mlops.components.common.kfp_outputs import publish_optimized
    from kfp_mlops.components.optimization.prune_model.core import prune

    result = prune(
        model.path,
        train.path,
        validation.path,
        test.path,
        pruned_model.path,
        initial_sparsity=initial_sparsity,
        final_sparsity=final_sparsity,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        max_accuracy_drop=max_accuracy_drop,
        gate_mode=gate_mode,
        latency_runs=latency_runs,
        seed=seed,
        max_rmse_increase_pct=max_rmse_increase_pct,
    )
    return publish_optimized(metrics, pruned_model, result)
