"""KFP wrapper of :mod:`kfp_mlops.components.training.train_model.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import TRAINER_IMAGE


@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def train_model(
    train: Input[Dataset],
    validation: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    curves: Output[HTML],
    best_params: Input[Artifact] = None,
    preprocessor: Input[Model] = None,
    model_fn: str = "builtin:mlp",
    num_workers: int = 2,
    epochs: int = 20,
    batch_size: int = 64,
    learning_rate: float = 1e-3,
    hidden_units: str = "64,32",
    activation: str = "relu",
    dropout: float = 0.1,
    l2: float = 1e-4,
    precision: str = "auto",
    loss_scale: float = 0.0,
    warmup_epochs: int = 5,
    grad_accum_steps: int = 4,
    clip_norm: float = 1.0,
    early_stopping_patience: int = 5,
    checkpoint_uri: str = "",
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    seed: int = 42,
    robust_loss: bool = False,
    class_weight: str = "",
):
    """Train a built-in or your own Keras model with Horovod data parallelism (Gloo / NCCL).

    Each worker trains on its own shard of the rows; gradients are accumulated over
    grad_accum_steps batches, averaged across workers and clipped; the learning rate is
    scaled by the worker count, warmed up linearly, then cosine-decayed (halved further when
    val_loss plateaus). Rank 0 checkpoints every epoch; a retried task resumes from there.

    Args:
        train: Training set (Parquet: float feature columns + int label 0..n-1).
        validation: Validation set with the same columns.
        model: Output directory: model.h5 (Keras 2 HDF5), saved_model/ (TF Serving),
            history.json, metrics.json, model_config.json (features, classes, architecture)
            and logs/ (one log per worker).
        metrics: Final loss and val_loss, the task's metrics (accuracy, or rmse and mae) on
            train and validation, epochs_run, workers, samples_per_second, resumed_from_epoch.
        curves: HTML report of loss, accuracy and learning rate per epoch.
        best_params: Optional tuning result (JSON object); its learning_rate, hidden_units,
            activation, dropout, l2, batch_size, warmup_epochs, grad_accum_steps and
            clip_norm override the parameters below.
        preprocessor: The preprocessor of split_and_preprocess: its task spec says binary,
            multiclass or regression (without it: classification, classes from the labels).
        model_fn: builtin:mlp | builtin:resnet_mlp | builtin:cnn, package.module:function
            importable in the trainer image, or a .py file (path or gs://) defining
            build_model(task, params) -> an uncompiled tf.keras.Model. The library adds the
            loss, metrics, mixed precision, Horovod, schedules and checkpoints; bad model code
            fails before any worker starts, naming the module, function and fix.
        num_workers: Horovod processes; at most the pod's CPU cores (or GPUs on GPU nodes).
        epochs: Total epochs; a resumed run counts those already done.
        batch_size: Global batch size, split evenly over the workers.
        learning_rate: Single-worker learning rate; the peak rate is learning_rate * num_workers.
        hidden_units: Comma-separated hidden layer widths, e.g. "64,32".
        activation: relu | gelu | elu | selu | tanh | swish.
        dropout: Dropout rate after each hidden layer, in [0, 1).
        l2: L2 weight penalty (0 disables it).
        precision: auto (mixed_float16 on GPU, float32 on CPU) | mixed_float16 |
            mixed_bfloat16 | float32.
        loss_scale: mixed_float16 only: 0 = dynamic loss scaling, > 0 = fixed scale (e.g. 128).
        warmup_epochs: Epochs of linear learning-rate warm-up.
        grad_accum_steps: Batches accumulated per allreduce and optimizer step.
        clip_norm: Clip gradients to this global norm (0 disables clipping).
        early_stopping_patience: Epochs without val_loss improvement before stopping.
        checkpoint_uri: Local path or gs:// URI for checkpoints; empty = "<model>-checkpoints"
            next to the model artifact (survives retries of this task). Give an explicit URI
            to resume across pipeline runs.
        tracking_uri: MLflow tracking server URI; empty disables MLflow logging.
        experiment_name: MLflow experiment name.
        seed: Seed of weight initialisation and shuffling.
        robust_loss: Regression only: Huber loss instead of mean squared error.
        class_weight: Classification only: "" (rows weigh the same), "balanced" (n_rows /
            (n_classes * rows of the class), counted from the training split) or a JSON
            object of class -> weight, e.g. {"malignant": 3.0}; unnamed classes weigh 1.
    """
    import os

    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.training.train_model.core import train as run_training

    os.makedirs(model.path, exist_ok=True)
    result = run_training(
        train.path,
        validation.path,
        model.path,
        curves_path=curves.path,
        best_params_path=best_params.path if best_params is not None else None,
        num_workers=num_workers,
        epochs=epochs,
        batch_size=batch_size,
        learning_rate=learning_rate,
        hidden_units=hidden_units,
        activation=activation,
        dropout=dropout,
        l2=l2,
        precision=precision,
        loss_scale=loss_scale,
        warmup_epochs=warmup_epochs,
        grad_accum_steps=grad_accum_steps,
        clip_norm=clip_norm,
        early_stopping_patience=early_stopping_patience,
        checkpoint_uri=checkpoint_uri,
        tracking_uri=tracking_uri,
        experiment_name=experiment_name,
        seed=seed,
        num_classes=int(train.metadata.get("num_classes", 0) or 0),
        model_fn=model_fn,
        task_path=preprocessor.path if preprocessor is not None else None,
        robust_loss=robust_loss,
        class_weight=class_weight,
    )
    log_finite(metrics, result.summary_metrics())
    model.metadata.update(result.model_metadata())
