"""The distillation loss on fixed tensors, checked against the formulas computed in numpy."""

from __future__ import annotations

import numpy as np
import pytest

from kfp_mlops.components.optimization.distill_model.loss import (
    LogitView,
    distillation_loss,
    hard_loss,
    soft_loss,
)

LABELS = np.array([0, 2, 1, 2])
STUDENT = np.array([[2.0, 0.5, -1.0], [0.1, 0.2, 1.5], [-0.3, 1.0, 0.0], [1.0, 1.0, 1.0]])
TEACHER = np.array([[3.0, 0.0, -2.0], [-1.0, 0.5, 2.5], [0.0, 2.0, -1.0], [0.0, 0.5, 3.0]])


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=-1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=-1, keepdims=True))


def _cross_entropy(labels: np.ndarray, z: np.ndarray) -> float:
    return float(-_log_softmax(z)[np.arange(len(labels)), labels].mean())


def _t2_kl(teacher: np.ndarray, student: np.ndarray, t: float) -> float:
    log_pt, log_ps = _log_softmax(teacher / t), _log_softmax(student / t)
    return float(t**2 * (np.exp(log_pt) * (log_pt - log_ps)).sum(axis=-1).mean())


def test_alpha_one_is_the_hard_label_cross_entropy():
    total, hard, _ = distillation_loss(LABELS, STUDENT, TEACHER, "multiclass", 1.0, 4.0)
    assert float(total) == pytest.approx(_cross_entropy(LABELS, STUDENT), rel=1e-5)
    assert float(total) == pytest.approx(float(hard), rel=1e-6)


@pytest.mark.parametrize("temperature", [1.0, 2.0, 5.0])
def test_alpha_zero_is_t_squared_kl_to_the_teacher(temperature):
    total, _, soft = distillation_loss(LABELS, STUDENT, TEACHER, "multiclass", 0.0, temperature)
    expected = _t2_kl(TEACHER, STUDENT, temperature)
    assert float(total) == pytest.approx(expected, rel=1e-5)
    assert float(soft) == pytest.approx(expected, rel=1e-5)
    assert expected > 0.05  # the fixed tensors disagree: a zero loss would pass otherwise


def test_mixed_alpha_weighs_both_terms():
    alpha, t = 0.3, 3.0
    total, _, _ = distillation_loss(LABELS, STUDENT, TEACHER, "multiclass", alpha, t)
    expected = alpha * _cross_entropy(LABELS, STUDENT) + (1 - alpha) * _t2_kl(TEACHER, STUDENT, t)
    assert float(total) == pytest.approx(expected, rel=1e-5)


def test_soft_loss_is_zero_when_the_student_matches_the_teacher():
    assert float(soft_loss(TEACHER, TEACHER, "multiclass", 4.0)) == pytest.approx(0.0, abs=1e-6)


def test_binary_logit_is_the_two_class_softmax_of_zero_and_z():
    z_s, z_t = np.array([[1.5], [-0.5], [0.2]]), np.array([[3.0], [-2.0], [1.0]])
    y = np.array([1, 0, 0])
    two = lambda z: np.concatenate([np.zeros_like(z), z], axis=1)  # noqa: E731
    assert float(hard_loss(y, z_s, "binary")) == pytest.approx(
        _cross_entropy(y, two(z_s)), rel=1e-5
    )
    assert float(soft_loss(z_t, z_s, "binary", 2.0)) == pytest.approx(
        _t2_kl(two(z_t), two(z_s), 2.0), rel=1e-5
    )


def test_regression_is_mse_to_the_label_and_to_the_teacher():
    y = np.array([1.0, -0.5, 2.0, 0.0])
    s = np.array([[0.8], [0.0], [1.5], [0.3]])
    t = np.array([[1.1], [-0.4], [1.0], [0.1]])
    alpha = 0.25
    total, hard, soft = distillation_loss(y, s, t, "regression", alpha, 7.0)
    mse_y = float(np.mean((s[:, 0] - y) ** 2))
    mse_t = float(np.mean((s - t) ** 2))
    assert float(hard) == pytest.approx(mse_y, rel=1e-6)
    assert float(soft) == pytest.approx(mse_t, rel=1e-6)  # no temperature in regression
    assert float(total) == pytest.approx(alpha * mse_y + (1 - alpha) * mse_t, rel=1e-6)


@pytest.mark.parametrize("activation,width", [("softmax", 3), ("sigmoid", 1)])
def test_logit_view_reads_the_exact_logits_of_a_dense_head(activation, width):
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    tf.keras.utils.set_random_seed(1)
    inputs = tf.keras.Input((4,))
    hidden = tf.keras.layers.Dense(5, activation="relu")(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Dense(width, activation=activation)(hidden))
    x = np.random.default_rng(0).normal(size=(6, 4)).astype("float32")
    kind = "multiclass" if width > 1 else "binary"
    view = LogitView(model, kind)
    assert view.head is model.layers[-1]
    logits = np.asarray(view(x))
    probs = tf.nn.softmax(logits) if width > 1 else tf.sigmoid(logits)
    np.testing.assert_allclose(np.asarray(probs), model.predict(x, verbose=0), rtol=1e-5)


def test_logit_view_inverts_probabilities_of_another_head():
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    inputs = tf.keras.Input((3,))
    dense = tf.keras.layers.Dense(3)(inputs)
    model = tf.keras.Model(inputs, tf.keras.layers.Activation("softmax")(dense))
    x = np.random.default_rng(1).normal(size=(5, 3)).astype("float32")
    view = LogitView(model, "multiclass")
    assert view.head is None
    probs = np.asarray(tf.nn.softmax(view(x)))
    np.testing.assert_allclose(probs, model.predict(x, verbose=0), rtol=1e-4)
