"""Magnitude pruning of a trained Keras model with tensorflow-model-optimization.

Every Dense and convolution layer (nested models included) is wrapped with
``prune_low_magnitude`` under a ``PolynomialDecay``
schedule from ``initial_sparsity`` to ``final_sparsity``; the model is fine-tuned with the
``UpdatePruningStep`` callback and the wrappers are stripped, so the output ``model.h5`` is a
plain Keras model (zeros in its kernels) that quantize_model and export_onnx consume.

Regression models (float labels in the split) are fine-tuned with MSE and gated on the
relative change of test RMSE (:mod:`..quality`). A layer tfmot cannot wrap (a custom layer
with weights and no ``get_prunable_weights``) is named before any fine-tuning; it fails the
task, or with ``gate_mode="mark"`` the input model goes through unchanged, not blessed.

The schedule fits any run length: pruning spans the first 80% of the fine-tuning steps
(the rest lets accuracy recover at the final sparsity), fires every ``max(1, span // 10)``
steps, and its end step is a multiple of that frequency so the final sparsity is reached.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.artifacts import KERAS_FILE
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.inference import TFLiteModel
from kfp_mlops.components.common.model_dir import TFLITE_FILE
from kfp_mlops.components.optimization.batches import fit_inputs, open_split, validation_data
from kfp_mlops.components.optimization.common import (
    OptimizationGateError,
    OptimizationResult,
    is_pruned_kind,
    keras_outputs,
    kernel_sparsity,
    load_model,
    unless_unsupported,
    validate_gate,
    validate_positive,
)
from kfp_mlops.components.optimization.prune_model.layers import check_prunable, custom_prunable
from kfp_mlops.components.optimization.prune_model.results import (
    Baseline,
    Pruned,
    pruning_metadata,
    pruning_metrics,
)
from kfp_mlops.components.optimization.quality import (
    MAX_RMSE_INCREASE_PCT,
    Quality,
)
from kfp_mlops.components.optimization.record import (
    FLOAT_TFLITE_SOURCE,
    sha256_of,
    write_record,
)
from kfp_mlops.components.optimization.tflite import tflite_convert

log = logging.getLogger(__name__)

#: Above this, a small tabular MLP keeps too few weights to hold its accuracy.
MAX_FINAL_SPARSITY = 0.95
#: Share of the fine-tuning steps over which sparsity ramps up.
PRUNING_SPAN = 0.8


@dataclass(frozen=True)
class Schedule:
    """Steps of a PolynomialDecay pruning schedule."""

    steps_per_epoch: int
    begin_step: int
    end_step: int
    frequency: int


def validate_sparsity(initial_sparsity: float, final_sparsity: float) -> None:
    """Both in [0, 1), final >= initial and <= MAX_FINAL_SPARSITY."""
    for name, value in (("initial_sparsity", initial_sparsity), ("final_sparsity", final_sparsity)):
        if not 0.0 <= value < 1.0:
            raise ParameterError(
                f"{name} {value} is outside [0, 1)",
                "give the share of Dense weights set to zero, e.g. final_sparsity=0.5",
            )
    if final_sparsity < initial_sparsity:
        raise ParameterError(
            f"final_sparsity {final_sparsity} is below initial_sparsity {initial_sparsity}",
            "sparsity only grows while pruning: set final_sparsity >= initial_sparsity",
        )
    if final_sparsity > MAX_FINAL_SPARSITY:
        raise ParameterError(
            f"final_sparsity {final_sparsity} is above {MAX_FINAL_SPARSITY}",
            f"use at most {MAX_FINAL_SPARSITY}; beyond it the model keeps too few weights",
        )


def schedule_for(rows: int, batch_size: int, epochs: int) -> Schedule:
    """Begin/end step and frequency that fire within ``epochs`` of fine-tuning."""
    steps_per_epoch = math.ceil(rows / batch_size)
    total = steps_per_epoch * epochs
    # Steps are counted from 0, so the last one is total - 1.
    span = max(1, min(total - 1, int(total * PRUNING_SPAN)))
    frequency = max(1, span // 10)
    end_step = (span // frequency) * frequency
    return Schedule(steps_per_epoch, 0, end_step, frequency)


def check_sparsity(
    achieved: float, target: float, per_layer: dict[str, float], tolerance_pp: float = 2.0
) -> None:
    """Raise when the achieved sparsity is more than ``tolerance_pp`` below the target."""
    if (target - achieved) * 100.0 > tolerance_pp:
        layers = ", ".join(f"{name}={value:.3f}" for name, value in per_layer.items())
        raise OptimizationGateError(
            f"achieved sparsity {achieved:.4f} is more than {tolerance_pp} pp below the "
            f"target {target} (per layer: {layers})",
            "fine-tune for more epochs or with a smaller batch_size so the schedule's "
            "pruning steps run, or lower final_sparsity",
        )


@unless_unsupported("pruning")
def prune(
    model_path: str,
    train_path: str,
    validation_path: str,
    test_path: str,
    output_dir: str,
    initial_sparsity: float = 0.0,
    final_sparsity: float = 0.5,
    epochs: int = 2,
    batch_size: int = 32,
    learning_rate: float = 1e-3,
    max_accuracy_drop: float = 0.5,
    gate_mode: str = "fail",
    sparsity_tolerance_pp: float = 2.0,
    latency_runs: int = 200,
    seed: int = 42,
    max_rmse_increase_pct: float = MAX_RMSE_INCREASE_PCT,
) -> OptimizationResult:
    """Prune, fine-tune, strip and measure; write model.h5, model.tflite and the record.

    Args:
        model_path: Model artifact (directory with model.h5, or the file).
        train_path: Processed training split (Parquet with ``label``), for fine-tuning.
        validation_path: Validation split, monitored during fine-tuning.
        test_path: Test split on which the input and pruned models are compared.
        output_dir: Where model.h5 (stripped Keras) and model.tflite (its float32 TFLite
            conversion, which shows the size win of the zeros after gzip) are written.
        initial_sparsity: Sparsity at the first pruning step, in [0, 1).
        final_sparsity: Target sparsity of the Dense and conv kernels, in [initial, 0.95].
        epochs: Fine-tuning epochs (>= 1).
        batch_size: Fine-tuning batch size.
        learning_rate: Adam learning rate of the fine-tuning.
        max_accuracy_drop: Largest accepted test-accuracy loss, percentage points
            (classification).
        gate_mode: ``fail`` raises when the gate fails or the model has a layer tfmot
            cannot wrap; ``mark`` returns blessed=False (the input model passed through
            unchanged in the second case).
        sparsity_tolerance_pp: How far (pp) achieved sparsity may fall below the target.
        latency_runs: Timed batch-1 inferences per latency measurement.
        seed: Seed of the fine-tuning.
        max_rmse_increase_pct: Largest accepted test-RMSE increase, percent of the input
            model's (regression).

    Returns:
        Metrics, blessed flag and metadata (per-layer sparsity, schedule).

    Raises:
        ParameterError: On bad parameters or a path that is not a Keras model.
        UnsupportedModelError: With ``gate_mode="fail"``, naming a layer tfmot cannot wrap
            or an op the TFLite converter cannot convert.
        OptimizationGateError: When sparsity falls short of the target, or (``gate_mode``
            ``fail``) when accuracy drops or RMSE grows more than allowed.
    """
    validate_sparsity(initial_sparsity, final_sparsity)
    validate_positive(epochs=epochs, batch_size=batch_size, latency_runs=latency_runs)
    validate_gate(max_accuracy_drop, gate_mode, max_rmse_increase_pct)
    model = load_model(model_path)
    check_prunable(model)
    # Held in memory when small, else streamed chunk by chunk (:func:`..batches.fit_inputs`).
    train, rows = fit_inputs(train_path, "train", model, batch_size, seed)
    validation = validation_data(validation_path, model, batch_size)
    base = _measure_baseline(model, test_path, max_accuracy_drop, max_rmse_increase_pct)

    schedule = schedule_for(rows, batch_size, epochs)
    log.info("pruning schedule: %s", schedule)
    pruned, history = fine_tune_pruned(
        model,
        train,
        validation,
        schedule,
        base.quality,
        initial_sparsity=initial_sparsity,
        final_sparsity=final_sparsity,
        epochs=epochs,
        learning_rate=learning_rate,
        seed=seed,
    )

    out = _write_outputs(
        pruned, model_path, output_dir, base, (initial_sparsity, final_sparsity), epochs
    )
    metrics = pruning_metrics(base, out, history, final_sparsity, latency_runs)

    check_sparsity(out.sparsity, final_sparsity, out.per_layer, sparsity_tolerance_pp)
    gate = base.quality.gate(base.score, out.score, gate_mode, "pruned model")
    metrics[gate.key] = gate.change
    metadata = pruning_metadata(
        gate.metadata, out, schedule, initial_sparsity, final_sparsity, epochs
    )
    return OptimizationResult(metrics=metrics, blessed=gate.blessed, metadata=metadata)


def _measure_baseline(
    model: Any, test_path: str, max_accuracy_drop: float, max_rmse_increase_pct: float
) -> Baseline:
    """Open the test split, score the input model on it and convert it to float32 TFLite."""
    # The test split is read in batches (bounded memory); only outputs and labels stay.
    test = open_split(test_path, "test", model)
    quality = Quality(test.regression, max_accuracy_drop, max_rmse_increase_pct)
    baseline, y_test = test.outputs({"keras": lambda x: keras_outputs(model, x)})
    score = quality.measure(baseline["keras"], y_test)
    # Converted now: the pruning wrappers reuse (and so change) the input model's layers.
    return Baseline(test, quality, y_test, score, tflite_convert(model))


def _write_outputs(
    pruned: Any,
    model_path: str,
    output_dir: str,
    base: Baseline,
    sparsities: tuple[float, float],
    epochs: int,
) -> Pruned:
    """Write model.h5, model.tflite and the record; score both models on the test split."""
    initial_sparsity, final_sparsity = sparsities
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    keras_path = out / KERAS_FILE
    pruned.save(str(keras_path), include_optimizer=False)

    sparsity, per_layer = kernel_sparsity(pruned)
    for name, value in per_layer.items():
        log.info("layer %s: sparsity %.4f", name, value)
    log.info("overall kernel sparsity %.4f (target %.4f)", sparsity, final_sparsity)

    # Latency and the compressed size are measured on float32 TFLite conversions of the
    # input and pruned models, with the LiteRT interpreter at batch 1, so the numbers
    # compare with quantize_model's (which reuses this model.tflite as its float baseline).
    pruned_tflite = tflite_convert(pruned)
    (out / TFLITE_FILE).write_bytes(pruned_tflite)
    # One more pass over the test split: the pruned Keras model and its TFLite conversion.
    pruned_rt = TFLiteModel(pruned_tflite)
    outputs, _ = base.test.outputs(
        {"keras": lambda x: keras_outputs(pruned, x), "tflite": pruned_rt.predict}
    )
    pruned_score = base.quality.measure(outputs["keras"], base.y_test)
    tflite_score = base.quality.measure(outputs["tflite"], base.y_test)
    write_record(
        out,
        model_path,
        pruning=f"magnitude pruning (tfmot, PolynomialDecay {initial_sparsity:g} -> "
        f"{final_sparsity:g}) to {sparsity:.1%} kernel sparsity (Dense and conv), "
        f"{epochs} fine-tuning epoch(s)",
        **{FLOAT_TFLITE_SOURCE: sha256_of(keras_path)},
    )
    return Pruned(keras_path, pruned_tflite, sparsity, per_layer, pruned_score, tflite_score)


def fine_tune_pruned(
    model: Any,
    train: dict[str, Any],
    validation: Any,
    schedule: Schedule,
    quality: Quality,
    *,
    initial_sparsity: float,
    final_sparsity: float,
    epochs: int,
    learning_rate: float,
    seed: int,
) -> tuple[Any, Any]:
    """Wrap every Dense and conv layer for pruning, fine-tune, strip; returns (model, history).

    ``train`` is Keras ``fit`` keyword arguments (:func:`..batches.fit_inputs`: arrays with
    ``batch_size``, or a streamed dataset with ``steps_per_epoch``); ``validation`` its
    ``validation_data``. Custom layers that implement ``get_prunable_weights`` are wrapped too.
    """
    import tensorflow_model_optimization as tfmot

    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    pruning_schedule = tfmot.sparsity.keras.PolynomialDecay(
        initial_sparsity=initial_sparsity,
        final_sparsity=final_sparsity,
        begin_step=schedule.begin_step,
        end_step=schedule.end_step,
        frequency=schedule.frequency,
    )

    def wrap_dense(layer: Any) -> Any:
        # Dense and conv kernels are pruned; other layers are reused as they are (with weights).
        if isinstance(layer, tf.keras.Model):  # a nested model (a user CNN behind a Reshape)
            return tf.keras.models.clone_model(layer, clone_function=wrap_dense)
        if is_pruned_kind(layer) or custom_prunable(layer):
            return tfmot.sparsity.keras.prune_low_magnitude(
                layer, pruning_schedule=pruning_schedule
            )
        return layer

    tf.keras.utils.set_random_seed(seed)
    wrapped = tf.keras.models.clone_model(model, clone_function=wrap_dense)
    loss, metrics, _ = quality.fit_settings(model)
    wrapped.compile(optimizer=tf.keras.optimizers.Adam(learning_rate), loss=loss, metrics=metrics)
    history = wrapped.fit(
        **train,
        epochs=epochs,
        validation_data=validation,
        callbacks=[tfmot.sparsity.keras.UpdatePruningStep()],
        verbose=0,
    )
    return tfmot.sparsity.keras.strip_pruning(wrapped), history
