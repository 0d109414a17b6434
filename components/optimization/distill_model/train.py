"""Training the student in one process: the distiller model, precision, epoch checkpoints.

:func:`distiller` wraps the student in a Keras model whose ``train_step`` minimises
:func:`.loss.distillation_loss` on ``(x, (label, teacher logits))`` batches; under
``mixed_float16`` the loss is scaled by a ``LossScaleOptimizer``. After every epoch the
student and the optimizer are checkpointed with ``state.json`` (epoch, history and a
signature of the run); a retried task with the same checkpoint directory resumes after the
last completed epoch, and a checkpoint of another run is refused rather than mixed in.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.tf import import_tf
from kfp_mlops.components.optimization.distill_model.loss import LogitView, distillation_loss
from kfp_mlops.components.training.train_model.config import PRECISIONS, resolve_precision

log = logging.getLogger(__name__)

STATE_FILE = "state.json"


@dataclass(frozen=True)
class FitSettings:
    """How the student is trained."""

    kind: str
    alpha: float
    temperature: float
    epochs: int
    batch_size: int
    learning_rate: float
    seed: int
    checkpoint_dir: str
    policy: str = "float32"


def check_precision(precision: str) -> str:
    """The Keras policy for ``precision`` (``auto``: mixed_float16 on a GPU, else float32)."""
    if precision not in PRECISIONS:
        raise ParameterError(
            f"precision '{precision}' is not supported", f"use one of {PRECISIONS}"
        )
    tf = import_tf()
    return resolve_precision(precision, bool(tf.config.list_physical_devices("GPU")))


@contextmanager
def precision_policy(policy: str):
    """Set the global Keras dtype policy for the block, then restore float32."""
    tf = import_tf()
    tf.keras.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        tf.keras.mixed_precision.set_global_policy("float32")


def distiller(student: Any, kind: str, alpha: float, temperature: float) -> Any:
    """A Keras model training ``student`` on ``(x, (labels, teacher_logits))`` batches."""
    tf = import_tf()

    class Distiller(tf.keras.Model):
        def __init__(self) -> None:
            super().__init__()
            self.student = student
            self.view = LogitView(student, kind)
            self.trackers = [
                tf.keras.metrics.Mean(name=n) for n in ("loss", "hard_loss", "soft_loss")
            ]
            self.quality = (
                tf.keras.metrics.RootMeanSquaredError(name="rmse")
                if kind == "regression"
                else tf.keras.metrics.Mean(name="accuracy")
            )

        @property
        def metrics(self) -> list[Any]:
            return [*self.trackers, self.quality]

        def call(self, x: Any, training: bool = False) -> Any:
            return self.student(x, training=training)

        def _step_losses(self, x: Any, y: Any, t: Any, training: bool) -> tuple[Any, ...]:
            z = self.view(x, training=training)
            total, hard, soft = distillation_loss(y, z, t, kind, alpha, temperature)
            reg = tf.add_n(self.student.losses) if self.student.losses else 0.0
            return z, total + tf.cast(reg, tf.float32), hard, soft

        def _step_metrics(self, y: Any, z: Any, losses: tuple[Any, ...]) -> dict[str, Any]:
            for tracker, value in zip(self.trackers, losses, strict=True):
                tracker.update_state(value)
            if kind == "regression":
                self.quality.update_state(tf.reshape(tf.cast(y, tf.float32), tf.shape(z)), z)
            else:
                pred = tf.argmax(z, -1) if kind == "multiclass" else tf.cast(z[:, 0] > 0, tf.int64)
                hit = tf.equal(pred, tf.reshape(tf.cast(y, tf.int64), [-1]))
                self.quality.update_state(tf.cast(hit, tf.float32))
            return {m.name: m.result() for m in self.metrics}

        def train_step(self, data: Any) -> dict[str, Any]:
            x, (y, t) = data
            opt = self.optimizer
            variables = self.student.trainable_variables
            with tf.GradientTape() as tape:
                z, loss, hard, soft = self._step_losses(x, y, t, training=True)
                scaled = opt.get_scaled_loss(loss) if hasattr(opt, "get_scaled_loss") else loss
            grads = tape.gradient(scaled, variables)
            if hasattr(opt, "get_unscaled_gradients"):
                grads = opt.get_unscaled_gradients(grads)
            opt.apply_gradients(zip(grads, variables, strict=True))
            return self._step_metrics(y, z, (loss, hard, soft))

        def test_step(self, data: Any) -> dict[str, Any]:
            x, (y, t) = data
            z, loss, hard, soft = self._step_losses(x, y, t, training=False)
            return self._step_metrics(y, z, (loss, hard, soft))

    return Distiller()


def _optimizer(tf: Any, learning_rate: float, policy: str) -> Any:
    opt = tf.keras.optimizers.Adam(learning_rate)
    return tf.keras.mixed_precision.LossScaleOptimizer(opt) if policy == "mixed_float16" else opt


def _dataset(tf: Any, x: np.ndarray, y: np.ndarray, t: np.ndarray, s: FitSettings, shuffle: bool):
    ds = tf.data.Dataset.from_tensor_slices((x, (y, t)))
    if shuffle:
        ds = ds.shuffle(len(x), seed=s.seed, reshuffle_each_iteration=True)
    return ds.batch(s.batch_size)


def read_state(checkpoint_dir: str, signature: dict[str, Any]) -> dict[str, Any] | None:
    """The last epoch's state, or None; raises if it belongs to another run.

    Raises:
        ParameterError: The directory holds the checkpoint of another teacher, student or
            settings.
    """
    path = Path(checkpoint_dir) / STATE_FILE
    if not path.is_file():
        return None
    state = json.loads(path.read_text(encoding="utf-8"))
    if state.get("signature") != signature:
        raise ParameterError(
            f"the checkpoint in {checkpoint_dir} is of another distillation run "
            f"({state.get('signature')}, not {signature})",
            "pass a new checkpoint_uri (or delete that directory) to distill this student",
        )
    return state


def fit(
    student: Any,
    train: tuple[np.ndarray, np.ndarray, np.ndarray],
    validation: tuple[np.ndarray, np.ndarray, np.ndarray],
    s: FitSettings,
    signature: dict[str, Any],
) -> tuple[list[dict[str, float]], int]:
    """Train ``student`` in place; returns (history of every epoch, epoch resumed from)."""
    tf = import_tf()
    tf.keras.utils.set_random_seed(s.seed)
    model = distiller(student, s.kind, s.alpha, s.temperature)
    opt = _optimizer(tf, s.learning_rate, s.policy)
    model.compile(optimizer=opt, jit_compile=False)
    opt.build(student.trainable_variables)  # slots exist now, so a restore fills them
    checkpoint = tf.train.Checkpoint(student=student, optimizer=opt)
    Path(s.checkpoint_dir).mkdir(parents=True, exist_ok=True)
    manager = tf.train.CheckpointManager(checkpoint, s.checkpoint_dir, max_to_keep=2)
    state = read_state(s.checkpoint_dir, signature)
    history: list[dict[str, float]] = list(state["history"]) if state else []
    initial = int(state["epoch"]) if state else 0
    if state:
        checkpoint.restore(state["checkpoint"]).assert_existing_objects_matched()
        log.info("resumed from %s (epoch %d of %d)", state["checkpoint"], initial, s.epochs)

    class Checkpoints(tf.keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: dict | None = None) -> None:
            entry = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
            history.append(entry)
            saved = manager.save(checkpoint_number=epoch + 1)
            record = {"epoch": epoch + 1, "checkpoint": saved, "history": history}
            text = json.dumps({**record, "signature": signature}, indent=1)
            (Path(s.checkpoint_dir) / STATE_FILE).write_text(text, encoding="utf-8")
            shown = " ".join(f"{k}={v:.4g}" for k, v in entry.items() if k != "epoch")
            log.info("epoch %d/%d %s", epoch + 1, s.epochs, shown)

    if initial < s.epochs:
        model.fit(
            _dataset(tf, *train, s, shuffle=True),
            validation_data=_dataset(tf, *validation, s, shuffle=False),
            epochs=s.epochs,
            initial_epoch=initial,
            callbacks=[Checkpoints()],
            verbose=0,
        )
    return history, initial
