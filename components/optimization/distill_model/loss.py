"""The distillation loss and the Keras model whose ``train_step`` minimises it.

Classification (Hinton et al., 2015)::

    loss = alpha * CE(label, student) + (1 - alpha) * T^2 * KL(softmax(z_t / T) || softmax(z_s / T))

with ``z`` the logits; a one-unit sigmoid head is the two-class softmax of logits
``[0, z]``. Regression::

    loss = alpha * MSE(label, student) + (1 - alpha) * MSE(teacher, student)

The T^2 factor keeps the soft term's gradients on the hard term's scale when T changes.
The teacher is frozen and run in inference mode, so its logits are computed once per row
before training (:func:`teacher_logits`) and travel with the labels; only the student runs
in each step. Logits are read exactly when a model ends in a Dense layer with a softmax or
sigmoid activation (every built-in does), else recovered from the probabilities.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from kfp_mlops.components.common.tf import import_tf

#: Probabilities are clipped to [EPS, 1 - EPS] before they are turned back into logits.
EPS = 1e-7
KINDS = ("binary", "multiclass", "regression")


def two_class(tf: Any, logits: Any, kind: str) -> Any:
    """Softmax logits of a head: ``[0, z]`` for one sigmoid unit, the logits otherwise."""
    if kind == "binary":
        return tf.concat([tf.zeros_like(logits), logits], axis=-1)
    return logits


def hard_loss(labels: Any, student: Any, kind: str) -> Any:
    """Mean cross-entropy from logits (classification) or MSE (regression) on the labels."""
    tf = import_tf()
    student = tf.cast(student, tf.float32)
    if kind == "regression":
        labels = tf.reshape(tf.cast(labels, tf.float32), tf.shape(student))
        return tf.reduce_mean(tf.square(student - labels))
    if kind == "binary":
        labels = tf.reshape(tf.cast(labels, tf.float32), tf.shape(student))
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, student))
    labels = tf.reshape(tf.cast(labels, tf.int64), [-1])
    return tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels, student))


def soft_loss(teacher: Any, student: Any, kind: str, temperature: float) -> Any:
    """``T^2 * KL(teacher_T || student_T)`` batch mean, or MSE to the teacher (regression)."""
    tf = import_tf()
    student = tf.cast(student, tf.float32)
    teacher = tf.cast(teacher, tf.float32)
    if kind == "regression":
        return tf.reduce_mean(tf.square(student - teacher))
    t = two_class(tf, teacher, kind) / temperature
    s = two_class(tf, student, kind) / temperature
    log_p_t, log_p_s = tf.nn.log_softmax(t), tf.nn.log_softmax(s)
    kl = tf.reduce_sum(tf.exp(log_p_t) * (log_p_t - log_p_s), axis=-1)
    return temperature**2 * tf.reduce_mean(kl)


def distillation_loss(
    labels: Any, student: Any, teacher: Any, kind: str, alpha: float, temperature: float
) -> tuple[Any, Any, Any]:
    """``(total, hard, soft)``: ``total = alpha * hard + (1 - alpha) * soft``.

    Args:
        labels: Class codes (classification) or targets (regression), shape (n,) or (n, 1).
        student: Student logits (n, k) (or predictions for regression).
        teacher: Teacher logits (or predictions), same shape.
        kind: ``binary``, ``multiclass`` or ``regression``.
        alpha: Weight of the hard-label loss, in [0, 1].
        temperature: Softmax temperature T > 0 (classification).
    """
    hard = hard_loss(labels, student, kind)
    soft = soft_loss(teacher, student, kind, temperature)
    return alpha * hard + (1.0 - alpha) * soft, hard, soft


# ------------------------------------------------------------------------------ logits


def probabilities_to_logits(tf: Any, outputs: Any, kind: str) -> Any:
    """Logits whose sigmoid/softmax gives ``outputs`` (up to a per-row constant)."""
    if kind == "regression":
        return tf.cast(outputs, tf.float32)
    p = tf.clip_by_value(tf.cast(outputs, tf.float32), EPS, 1.0 - EPS)
    return tf.math.log(p) - tf.math.log1p(-p) if kind == "binary" else tf.math.log(p)


def logit_head(model: Any, kind: str) -> Any:
    """The final Dense layer when its activation is the task's sigmoid/softmax, else None."""
    tf = import_tf()
    last = model.layers[-1]
    wanted = {"binary": "sigmoid", "multiclass": "softmax"}.get(kind)
    if isinstance(last, tf.keras.layers.Dense) and last.get_config()["activation"] == wanted:
        return last
    return None


class LogitView:
    """``model``'s logits as a differentiable function of its input (shares its weights)."""

    def __init__(self, model: Any, kind: str) -> None:
        tf = import_tf()
        self.kind = kind
        self.head = logit_head(model, kind)
        self.body = tf.keras.Model(model.inputs, self.head.input) if self.head else model

    def __call__(self, x: Any, training: bool = False) -> Any:
        """Logits (classification) or predictions (regression), float32."""
        tf = import_tf()
        out = self.body(x, training=training)
        if self.head is None:
            return probabilities_to_logits(tf, out, self.kind)
        kernel = self.head.kernel
        logits = tf.matmul(tf.cast(out, kernel.dtype), kernel)
        return logits + self.head.bias if self.head.use_bias else logits


def teacher_logits(teacher: Any, x: np.ndarray, kind: str, batch_size: int = 1024) -> np.ndarray:
    """The teacher's logits (or regression predictions) for every row, inference mode."""
    view = LogitView(teacher, kind)
    parts = [
        np.asarray(view(x[i : i + batch_size], training=False), dtype="float32")
        for i in range(0, len(x), batch_size)
    ]
    return np.concatenate(parts, axis=0)
