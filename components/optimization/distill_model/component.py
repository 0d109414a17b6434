"""KFP wrapper of :mod:`kfp_mlops.components.optimization.distill_model.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def distill_model(
    model: Input[Model],
    train: Input[Dataset],
    validation: Input[Dataset],
    test: Input[Dataset],
    student_model: Output[Model],
    metrics: Output[Metrics],
    preprocessor: Input[Model] = None,
    student_model_fn: str = "builtin:mlp",
    student_hidden_units: str = "16,8",
    student_activation: str = "relu",
    student_dropout: float = 0.0,
    student_l2: float = 0.0,
    alpha: float = 0.1,
    temperature: float = 4.0,
    epochs: int = 30,
    batch_size: int = 32,
    learning_rate: float = 0.003,
    precision: str = "float32",
    checkpoint_uri: str = "",
    max_accuracy_drop: float = 1.0,
    max_rmse_increase_pct: float = 2.0,
    gate_mode: str = "fail",
    latency_runs: int = 200,
    seed: int = 42,
) -> bool:
    """Distill a trained teacher into a smaller student (soft labels, temperature T).

    Loss: alpha x hard-label loss + (1 - alpha) x T^2 x KL(teacher_T || student_T); for
    regression alpha x MSE(label) + (1 - alpha) x MSE(teacher prediction). Trained in this
    one process, checkpointed every epoch (a retried task resumes); the student then goes
    through prune_model and quantize_model like the teacher would.

    Args:
        model: The teacher: train_model's Model directory (model.h5).
        train: Training split the student learns on.
        validation: Validation split (validation losses per epoch).
        test: Test split on which teacher and student are compared and gated.
        student_model: The student's Model directory in the teacher's layout: model.h5
            (float32), saved_model/ when the teacher has one, model_config.json,
            preprocessor.json (when given) and optimization.json (a distillation line).
        metrics: accuracy (or rmse) of student and teacher_, accuracy_change_pp (or
            rmse_change_pct), student_params / teacher_params / params_ratio, size_bytes /
            teacher_size_bytes / size_ratio of model.h5, latency_p50_ms /
            teacher_latency_p50_ms (Keras, batch 1), epochs_run, resumed_from_epoch.
        preprocessor: split_and_preprocess's preprocessor (its task spec); without it the
            teacher's model_config.json, else the splits' labels, say the task.
        student_model_fn: builtin:mlp | builtin:resnet_mlp | builtin:cnn,
            package.module:function or a .py file defining build_model(task, params).
        student_hidden_units: Widths of the student's layers (filters for builtin:cnn),
            e.g. "16,8"; a student with more parameters than the teacher is refused.
        student_activation: Hidden activation of the student.
        student_dropout: Dropout rate of the student, in [0, 1).
        student_l2: L2 weight penalty of the student (0 disables it).
        alpha: Weight of the hard-label loss in [0, 1] (1: no teacher, 0: teacher only).
        temperature: Softmax temperature T > 0 that softens the teacher's labels.
        epochs: Training epochs (a resumed run counts those already done).
        batch_size: Training batch size.
        learning_rate: Adam learning rate.
        precision: float32 | mixed_float16 | mixed_bfloat16 | auto (mixed_float16 on a
            GPU); the output is float32 and model.h5 is saved as a float32 model.
        checkpoint_uri: Checkpoint directory; empty = "<student_model>-checkpoints" next to
            the artifact (survives retries of this task).
        max_accuracy_drop: Largest accepted test-accuracy loss vs the teacher, pp.
        max_rmse_increase_pct: Largest accepted test-RMSE increase vs the teacher, percent
            (regression).
        gate_mode: fail (raise when the student is worse than allowed) or mark (return
            False; metadata gate_reason says why).
        latency_runs: Timed batch-1 predictions per latency measurement.
        seed: Seed of the student's initialisation and shuffling.

    Returns:
        blessed: True when the student passed the accuracy (or RMSE) gate.
    """
    from kfp_mlops.components.common.kfp_outputs import publish_optimized
    from kfp_mlops.components.optimization.distill_model.core import distill

    result = distill(
        model.path,
        train.path,
        validation.path,
        test.path,
        student_model.path,
        preprocessor_path=preprocessor.path if preprocessor is not None else None,
        student_model_fn=student_model_fn,
        student_hidden_units=student_hidden_units,
        student_activation=student_activation,
        student_dropout=student_dropout,
        student_l2=student_l2,
        alpha=alpha,
        temperature=temperature,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        precision=precision,
        checkpoint_uri=checkpoint_uri,
        max_accuracy_drop=max_accuracy_drop,
        max_rmse_increase_pct=max_rmse_increase_pct,
        gate_mode=gate_mode,
        latency_runs=latency_runs,
        seed=seed,
    )
    return publish_optimized(metrics, student_model, result)
