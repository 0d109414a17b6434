"""Knowledge distillation: train a small student on a trained teacher's soft labels.

The teacher is a Model directory of train_model (``model.h5``); the student is
``builtin:mlp`` with fewer units, ``builtin:cnn`` with fewer filters, or a user's
``model_fn``, built for the same task (:mod:`.student`). It is trained in this process
(:mod:`.train`) on ``alpha`` x the hard-label loss + ``(1 - alpha)`` x the teacher term
(:mod:`.loss`: T^2 x KL of temperature-softened distributions, or MSE to the teacher's
predictions for regression), checkpointed every epoch so a retried task resumes.

Teacher and student are compared on the test split (parameters, size of model.h5, accuracy
or RMSE, batch-1 latency) and gated like prune/quantize (:mod:`..quality`). The output
directory has the teacher's layout (``model.h5``, ``model_config.json`` describing the
student, the preprocessor when known, ``optimization.json`` with a ``distillation`` line),
so prune_model and quantize_model take it unchanged.
"""

from __future__ import annotations

import json
import logging
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.artifacts import KERAS_FILE
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.model_dir import (
    MODEL_CONFIG_FILE,
    PREPROCESSOR_FILE,
    SAVED_MODEL_DIR,
)
from kfp_mlops.components.optimization.common import (
    OptimizationGateError,
    OptimizationResult,
    keras_latency_ms,
    keras_outputs,
    load_model,
    validate_gate,
    validate_positive,
)
from kfp_mlops.components.optimization.distill_model import student as students
from kfp_mlops.components.optimization.distill_model.loss import teacher_logits
from kfp_mlops.components.optimization.distill_model.train import (
    FitSettings,
    check_precision,
    fit,
    precision_policy,
)
from kfp_mlops.components.optimization.quality import MAX_RMSE_INCREASE_PCT, Quality
from kfp_mlops.components.optimization.record import sha256_of, write_record

log = logging.getLogger(__name__)


def validate_params(alpha: float, temperature: float, learning_rate: float) -> None:
    """Check that alpha is in [0, 1] and temperature and learning_rate are positive.

    Raises:
        ParameterError: Naming the parameter and the range it must lie in.
    """
    if not 0.0 <= alpha <= 1.0:
        raise ParameterError(
            f"alpha {alpha} is outside [0, 1]",
            "alpha weighs the hard-label loss against the teacher's: use e.g. 0.1 "
            "(mostly teacher) to 0.5",
        )
    if not temperature > 0:
        raise ParameterError(
            f"temperature {temperature} is not positive",
            "use T >= 1 to soften the teacher's probabilities, e.g. 4",
        )
    if not learning_rate > 0:
        raise ParameterError(f"learning_rate {learning_rate} is not positive", "use e.g. 1e-3")


def default_checkpoint_dir(output_dir: str) -> str:
    """``<output_dir>-checkpoints``: outside the artifact, stable across task retries."""
    return f"{str(output_dir).rstrip('/')}-checkpoints"


def distill(
    model_path: str,
    train_path: str,
    validation_path: str,
    test_path: str,
    output_dir: str,
    preprocessor_path: str | None = None,
    student_model_fn: str = "builtin:mlp",
    student_hidden_units: str = "16,8",
    student_activation: str = "relu",
    student_dropout: float = 0.0,
    student_l2: float = 0.0,
    alpha: float = 0.1,
    temperature: float = 4.0,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 3e-3,
    precision: str = "float32",
    checkpoint_uri: str = "",
    max_accuracy_drop: float = 1.0,
    max_rmse_increase_pct: float = MAX_RMSE_INCREASE_PCT,
    gate_mode: str = "fail",
    latency_runs: int = 200,
    seed: int = 42,
) -> OptimizationResult:
    """Distill the teacher into the student, compare them, gate, write the student's directory.

    Args:
        model_path: The teacher: a Model directory with model.h5 (train_model's output).
        train_path: Processed training split (the student learns on it).
        validation_path: Validation split (validation losses per epoch).
        test_path: Test split on which teacher and student are compared.
        output_dir: Where the student's Model directory is written.
        preprocessor_path: The preprocessor JSON (task spec); else the teacher's
            model_config.json, else inferred from the splits.
        student_model_fn: builtin:mlp | builtin:resnet_mlp | builtin:cnn, a
            ``package.module:function`` or a .py file (train_model's contract).
        student_hidden_units: The student's layer widths (filters for builtin:cnn).
        student_activation: The student's hidden activation.
        student_dropout: The student's dropout rate.
        student_l2: The student's L2 weight penalty.
        alpha: Weight of the hard-label loss, in [0, 1] (1 = no teacher).
        temperature: Softmax temperature T > 0 of the soft labels (classification).
        epochs: Training epochs (a resumed run counts those already done).
        batch_size: Batch size.
        learning_rate: Adam learning rate.
        precision: float32 | mixed_float16 | mixed_bfloat16 | auto (GPU: mixed_float16).
        checkpoint_uri: Checkpoint directory; empty: ``<output_dir>-checkpoints``.
        max_accuracy_drop: Largest accepted accuracy loss vs the teacher, pp.
        max_rmse_increase_pct: Largest accepted RMSE increase vs the teacher, percent.
        gate_mode: ``fail`` raises when the gate fails; ``mark`` returns blessed=False.
        latency_runs: Timed batch-1 predictions per latency measurement.
        seed: Seed of the student's initialisation and shuffling.

    Raises:
        ParameterError: On bad parameters, a student bigger than the teacher or a foreign
            checkpoint, before any training.
        ModelCodeError: On a student model_fn that cannot be built.
        OptimizationGateError: With ``gate_mode="fail"``, when the student is worse than
            allowed.
    """
    validate_params(alpha, temperature, learning_rate)
    validate_positive(epochs=epochs, batch_size=batch_size, latency_runs=latency_runs)
    validate_gate(max_accuracy_drop, gate_mode, max_rmse_increase_pct)
    policy = check_precision(precision)
    params = students.student_params(
        student_hidden_units, student_activation, student_dropout, student_l2
    )
    given = {
        "student_model_fn": student_model_fn,
        "params": params,
        "policy": policy,
        "alpha": alpha,
        "temperature": temperature,
        "latency_runs": latency_runs,
        "gate_mode": gate_mode,
    }
    data = _prepare(model_path, preprocessor_path, (train_path, validation_path, test_path), given)

    kind = data.task.task_type
    checkpoint_dir = checkpoint_uri or default_checkpoint_dir(output_dir)
    settings = FitSettings(
        kind, alpha, temperature, epochs, batch_size, learning_rate, seed, checkpoint_dir, policy
    )
    history, resumed = _train(data, settings, model_path, given)
    # Saved as a plain float32 model whatever the training policy, so serving, pruning
    # and int8 calibration see the same kind of model as the teacher.
    final = students.build_student(student_model_fn, data.task, params, data.num_features)
    final.set_weights(data.student.get_weights())
    out = _write_outputs(final, model_path, preprocessor_path, output_dir, data.task, params, given)
    quality = Quality(kind == "regression", max_accuracy_drop, max_rmse_increase_pct)
    return _compare(
        data.teacher, final, model_path, out, data.test, quality, history, resumed, given
    )


@dataclass(frozen=True)
class _Inputs:
    """The teacher, its task, the splits as (x, y) arrays and the student to train."""

    teacher: Any
    task: Any
    student: Any
    num_features: int
    train: tuple[Any, Any]
    validation: tuple[Any, Any]
    test: tuple[Any, Any]


def _prepare(
    model_path: str,
    preprocessor_path: str | None,
    splits: tuple[str, str, str],
    given: dict[str, Any],
) -> _Inputs:
    """Load the teacher and the (train, validation, test) splits; build and check the student."""
    train_path, validation_path, test_path = splits
    student_model_fn, params = given["student_model_fn"], given["params"]
    teacher = load_model(model_path)
    task = students.resolve_task(teacher, model_path, preprocessor_path, train_path)
    x_train, y_train = students.load_arrays(train_path, "train", task, teacher)
    num_features = int(x_train.shape[-1]) if x_train.ndim == 2 else 0
    with precision_policy(given["policy"]):
        student = students.build_student(student_model_fn, task, params, num_features)
    students.check_smaller(student, teacher, student_model_fn, params)
    validation = students.load_arrays(validation_path, "validation", task, teacher)
    test = students.load_arrays(test_path, "test", task, teacher)
    return _Inputs(teacher, task, student, num_features, (x_train, y_train), validation, test)


def _train(
    data: _Inputs, settings: FitSettings, model_path: str, given: dict[str, Any]
) -> tuple[list[dict[str, float]], int]:
    """Distill the teacher into ``data.student`` in place; returns (history, epoch resumed from)."""
    student, teacher, kind = data.student, data.teacher, settings.kind
    signature = _signature(
        model_path,
        given["student_model_fn"],
        given["params"],
        settings.alpha,
        settings.temperature,
        settings.policy,
    )
    signature["parameters"] = int(student.count_params())
    log.info(
        "distilling a %s teacher (%d parameters) into %s %s (%d parameters), alpha=%g T=%g",
        kind,
        teacher.count_params(),
        given["student_model_fn"],
        given["params"]["hidden_units"],
        student.count_params(),
        settings.alpha,
        settings.temperature,
    )
    (x_train, y_train), (x_val, y_val) = data.train, data.validation
    return fit(
        student,
        (x_train, y_train, teacher_logits(teacher, x_train, kind)),
        (x_val, y_val, teacher_logits(teacher, x_val, kind)),
        settings,
        signature,
    )


def _signature(
    model_path: str,
    student_model_fn: str,
    params: dict[str, Any],
    alpha: float,
    temperature: float,
    policy: str,
) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the teacher's weights and the settings."""
    teacher_file = Path(model_path) / KERAS_FILE if Path(model_path).is_dir() else model_path
    return {
        "teacher_sha256": sha256_of(teacher_file),
        "student": student_model_fn,
        "params": params,
        "alpha": alpha,
        "temperature": temperature,
        "policy": policy,
    }


def _write_outputs(
    student: Any,
    model_path: str,
    preprocessor_path: str | None,
    output_dir: str,
    task: Any,
    params: dict[str, Any],
    given: dict[str, Any],
) -> Path:
    """model.h5 (+ saved_model/ when the teacher has one), model_config.json, preprocessor."""
    out = Path(output_dir)
    out.mkdir(parents=True, exist_ok=True)
    student.save(str(out / KERAS_FILE), include_optimizer=False)
    teacher_dir = Path(model_path) if Path(model_path).is_dir() else Path(model_path).parent
    if (teacher_dir / SAVED_MODEL_DIR).is_dir():
        student.save(str(out / SAVED_MODEL_DIR), include_optimizer=False, save_format="tf")
    preprocessor = Path(preprocessor_path) if preprocessor_path else None
    if preprocessor is None and (teacher_dir / PREPROCESSOR_FILE).is_file():
        preprocessor = teacher_dir / PREPROCESSOR_FILE
    if preprocessor is not None and preprocessor.is_file():
        shutil.copy2(preprocessor, out / PREPROCESSOR_FILE)
    config_path = teacher_dir / MODEL_CONFIG_FILE
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else {}
    config.update(
        model_fn=given["student_model_fn"],
        model_config=params,
        task=task.to_json(),
        model_file=KERAS_FILE,
        saved_model_dir=SAVED_MODEL_DIR if (out / SAVED_MODEL_DIR).is_dir() else None,
        distilled_from=str(model_path),
        precision_policy=given["policy"],
    )
    (out / MODEL_CONFIG_FILE).write_text(json.dumps(config, indent=2), encoding="utf-8")
    return out


def _compare(
    teacher: Any,
    student: Any,
    model_path: str,
    out: Path,
    test: tuple[Any, Any],
    quality: Quality,
    history: list[dict[str, float]],
    resumed: int,
    given: dict[str, Any],
) -> OptimizationResult:
    """Teacher vs student on the test split; the record, the gate, metrics and metadata."""
    x_test, y_test = test
    teacher_score = quality.measure(keras_outputs(teacher, x_test), y_test)
    student_score = quality.measure(keras_outputs(student, x_test), y_test)
    teacher_file = Path(model_path) / KERAS_FILE if Path(model_path).is_dir() else Path(model_path)
    t_params, s_params = int(teacher.count_params()), int(student.count_params())
    t_size, s_size = teacher_file.stat().st_size, (out / KERAS_FILE).stat().st_size
    runs = given["latency_runs"]
    t_latency = keras_latency_ms(teacher, x_test[:1], runs)
    s_latency = keras_latency_ms(student, x_test[:1], runs)
    m = quality.metric
    write_record(
        out,
        model_path,
        distillation=f"knowledge distillation into {given['student_model_fn']} "
        f"{given['params']['hidden_units']} ({s_params} parameters, teacher {t_params}; "
        f"alpha={given['alpha']:g}, T={given['temperature']:g}, {len(history)} epoch(s)); "
        f"test {m} {teacher_score:.4f} -> {student_score:.4f}",
    )
    metrics = {
        m: student_score,
        f"teacher_{m}": teacher_score,
        "student_params": float(s_params),
        "teacher_params": float(t_params),
        "params_ratio": t_params / s_params,
        "size_bytes": float(s_size),
        "teacher_size_bytes": float(t_size),
        "size_ratio": t_size / s_size,
        "latency_p50_ms": s_latency,
        "teacher_latency_p50_ms": t_latency,
        "latency_ratio": s_latency / t_latency if t_latency else 0.0,
        "epochs_run": float(len(history)),
        "resumed_from_epoch": float(resumed),
        f"final_val_{m}": float(history[-1].get(f"val_{m}", 0.0)) if history else 0.0,
    }
    gate = quality.gate(teacher_score, student_score, "mark", "distilled student")
    metrics[gate.key] = gate.change
    if not gate.blessed and given["gate_mode"] == "fail":
        raise OptimizationGateError(
            gate.metadata["gate_reason"],
            "train the student longer (epochs), give it more units, lower alpha to lean on "
            "the teacher, or raise the allowed drop",
        )
    metadata = {
        **gate.metadata,
        "format": "keras-h5",
        "files": sorted(p.name for p in out.iterdir()),
        "teacher": str(model_path),
        "student_model_fn": given["student_model_fn"],
        "student_hidden_units": given["params"]["hidden_units"],
        "alpha": given["alpha"],
        "temperature": given["temperature"],
        "precision_policy": given["policy"],
        "latency_runtime": "Keras predict_on_batch, batch 1",
    }
    return OptimizationResult(metrics=metrics, blessed=gate.blessed, metadata=metadata)
