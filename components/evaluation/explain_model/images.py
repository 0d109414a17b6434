"""Per-pixel attributions of an image model: integrated gradients (``tf.GradientTape``).

Integrated gradients integrate the gradient of the explained output along the straight
path from a baseline image (the mean training image: "no information") to the input; by
completeness the attributions of an image sum to ``f(input) - f(baseline)`` up to the
Riemann-sum error, which :attr:`PixelAttributions.completeness_error` reports.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class PixelAttributions:
    """Integrated-gradient attributions of a set of images."""

    values: np.ndarray  # (n, height, width, channels)
    outputs: np.ndarray  # (n,) explained output at the input
    baseline_outputs: np.ndarray  # (n,) explained output at the baseline

    @property
    def completeness_error(self) -> float:
        """Largest ``|sum(attributions) - (f(x) - f(baseline))|`` over the images."""
        total = self.values.reshape(len(self.values), -1).sum(axis=1)
        return float(np.abs(total - (self.outputs - self.baseline_outputs)).max())

    @property
    def importance_map(self) -> np.ndarray:
        """Mean absolute attribution per pixel (channels summed): ``(height, width)``."""
        return np.abs(self.values).sum(axis=-1).mean(axis=0)


def integrated_gradients(
    model: Any,
    images: np.ndarray,
    baseline: np.ndarray,
    output_index: np.ndarray,
    steps: int = 32,
) -> PixelAttributions:
    """Integrated gradients of ``model``'s output ``output_index[i]`` for each image.

    Args:
        model: A Keras model taking ``(n, height, width, channels)``.
        images: Images to explain.
        baseline: One baseline image (same shape as an image).
        output_index: Output unit explained per image (the predicted class; 0 for one unit).
        steps: Riemann steps (midpoint rule) along the path.
    """
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    images = np.asarray(images, dtype=np.float32)
    baseline = np.asarray(baseline, dtype=np.float32)
    alphas = ((np.arange(steps) + 0.5) / steps).astype(np.float32)
    values = np.zeros_like(images)
    outputs = np.zeros(len(images))
    base_out = np.zeros(len(images))
    for i, (image, k) in enumerate(zip(images, output_index, strict=True)):
        path = tf.constant(baseline[None] + alphas[:, None, None, None] * (image - baseline)[None])
        with tf.GradientTape() as tape:
            tape.watch(path)
            out = model(path, training=False)[:, int(k)]
        grads = tape.gradient(out, path).numpy()
        values[i] = (image - baseline) * grads.mean(axis=0)
        ends = model(np.stack([image, baseline]), training=False).numpy()[:, int(k)]
        outputs[i], base_out[i] = ends
    return PixelAttributions(values, outputs, base_out)
