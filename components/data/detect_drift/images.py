"""Drift of image datasets: per-image intensity statistics and a PCA embedding, then PSI/KS.

A raw image Dataset (``file``, ``image`` bytes, target; see
:mod:`kfp_mlops.components.common.images`) has no columns the tabular test can compare, so
each side is first turned into a small feature table with the same columns on both sides:

- **Channel statistics** per image and channel ``j``: ``channel_<j>_mean`` (brightness),
  ``channel_<j>_std`` (contrast) and the ``channel_<j>_p05`` / ``_p50`` / ``_p95``
  intensity percentiles, in 0-255 units. A brightness or contrast change moves them.
- **Pixel embedding**: ``pca_1`` ... ``pca_<k>``, the image's coordinates on the first
  ``k`` principal components of the pixels (scaled to [0, 1]). PCA is fitted on the
  **reference only** (numpy SVD, seeded randomized SVD for big samples; centred at the
  reference mean; each component's sign fixed so its largest loading is positive) and
  applied to both sides, so the embedding does not move with the window being checked.
  Images with a side over :data:`PCA_MAX_SIDE` pixels are box-downscaled to at most that
  side first, and the fit uses a systematic sample of at most :data:`PCA_FIT_MAX` reference
  images. Components with no reference variance are dropped.

The two tables then go through :func:`.core.feature_drift` (PSI on reference-quantile bins
decides, KS p-values inform), so the result, the report and the metrics look as for
tables; the label and any other column are not compared. Images are decoded a chunk at a
time (the reference twice: once for its shape and the PCA sample, once for its features), so
memory holds the feature tables, one chunk and the PCA sample, also for sharded datasets.

Shapes: every image of both sides must have the reference's majority
``[height, width, channels]``; otherwise :class:`~.images.ImageDecodeError` names the count
and the first offending files (drift statistics of differently sized images are not
comparable, and the model rejects them too). An undecodable file raises, named, as well.
A model's penultimate-layer activations can be checked the same way: pass them as a table to
:func:`.core.feature_drift`.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common import images, shards
from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.detect_drift.checks import check_not_empty, check_params
from kfp_mlops.components.data.detect_drift.core import (
    IMAGE_COMPONENTS,
    DriftResult,
    feature_drift,
)

log = logging.getLogger(__name__)

#: Principal components of the pixels compared by default.
DEFAULT_COMPONENTS = IMAGE_COMPONENTS
#: Images with a longer side are box-downscaled to this side before PCA.
PCA_MAX_SIDE = 32
#: At most this many reference images (a systematic sample) fit the PCA.
PCA_FIT_MAX = 5_000
#: Above this many sample rows and pixels the PCA uses a (seeded) randomized SVD.
EXACT_SVD_MAX = 256
#: Images decoded at a time.
CHUNK_ROWS = 1024
_PERCENTILES = {"p05": 5.0, "p50": 50.0, "p95": 95.0}
#: Per-channel statistics of each image, in this column order.
STATISTICS = ("mean", "std", *_PERCENTILES)
PCA_PREFIX = "pca_"
#: Options of :func:`.streaming.drift_between` that apply to images.
IMAGE_OPTIONS = ("bins", "epsilon", "image_components")

Shape = tuple[int, int, int]


@dataclass(frozen=True)
class PixelPCA:
    """Principal components of the reference's (downscaled) pixels.

    Attributes:
        shape: The reference's ``(height, width, channels)``; every image must have it.
        size: ``(height, width)`` the pixels are downscaled to before projecting.
        mean: Mean pixel vector of the fitting sample, in [0, 1].
        components: ``(k, pixels)`` unit vectors, strongest first.
        explained_variance_ratio: Share of the sample's pixel variance per component.
    """

    shape: Shape
    size: tuple[int, int]
    mean: np.ndarray
    components: np.ndarray
    explained_variance_ratio: np.ndarray

    @property
    def names(self) -> list[str]:
        """The embedding's column names: ``pca_1`` ... ``pca_<k>``."""
        return [f"{PCA_PREFIX}{i + 1}" for i in range(len(self.components))]

    def transform(self, pixels: np.ndarray) -> np.ndarray:
        """``(n, pixels)`` downscaled pixels in [0, 1] -> ``(n, k)`` coordinates."""
        return (np.asarray(pixels, dtype=np.float64) - self.mean) @ self.components.T


@dataclass(frozen=True)
class ImageFeatures:
    """The two feature tables (same columns) and the PCA that made their embedding."""

    reference: pd.DataFrame
    current: pd.DataFrame
    pca: PixelPCA


class _Source:
    """A raw image Dataset given as a frame or a path (file or shards), read in chunks."""

    def __init__(self, data: pd.DataFrame | str, side: str) -> None:
        self.data, self.side = data, side
        if isinstance(data, pd.DataFrame):
            self.rows = len(data)
        else:
            self.rows = shards.read_manifest(data).rows

    def chunks(self) -> Iterator[tuple[list[str], list[Any]]]:
        """``(names, encoded images)`` of at most :data:`CHUNK_ROWS` images, in order."""
        start = 0
        for frame in self._frames():
            if images.FILE_COLUMN in frame.columns:
                names = [str(n) for n in frame[images.FILE_COLUMN]]
            else:
                names = [f"{self.side} row {start + i}" for i in range(len(frame))]
            start += len(frame)
            yield names, list(frame[images.IMAGE_COLUMN])

    def _frames(self) -> Iterator[pd.DataFrame]:
        if isinstance(self.data, pd.DataFrame):
            for i in range(0, len(self.data), CHUNK_ROWS):
                yield self.data.iloc[i : i + CHUNK_ROWS]
            return
        schema = shards.file_schema(shards.resolve_files(self.data)[0])
        columns = [c for c in (images.FILE_COLUMN, images.IMAGE_COLUMN) if c in schema.names]
        yield from shards.iter_frames(self.data, columns=columns, batch_rows=CHUNK_ROWS)


def is_image_dataset(path: str) -> bool:
    """Whether a dataset path (file or shards) holds a binary ``image`` column (schema only)."""
    import pyarrow as pa

    try:
        schema = shards.file_schema(shards.resolve_files(path)[0])
    except shards.ShardError:
        return False  # let the tabular reader report the missing or unreadable dataset
    if images.IMAGE_COLUMN not in schema.names:
        return False
    kind = schema.field(images.IMAGE_COLUMN).type
    return pa.types.is_binary(kind) or pa.types.is_large_binary(kind)


def drift_options(options: dict[str, Any]) -> dict[str, Any]:
    """The tabular drift options that apply to images (``exclude``/``categorical`` do not)."""
    out = {k: options[k] for k in IMAGE_OPTIONS if k in options}
    if "image_components" in out:
        out["components"] = out.pop("image_components")
    return out


def image_drift(
    reference: pd.DataFrame | str,
    current: pd.DataFrame | str,
    threshold: float = 0.1,
    *,
    bins: int = 10,
    epsilon: float = 1e-4,
    components: int = DEFAULT_COMPONENTS,
) -> tuple[DriftResult, pd.DataFrame, pd.DataFrame]:
    """Drift between two raw image Datasets, on channel statistics and a PCA embedding.

    Args:
        reference: The reference images (a frame, or a Parquet file or shards path).
        current: The current window's images (same forms).
        threshold: A feature drifts when its PSI is above this (> 0).
        bins: Reference-quantile bins per feature (>= 2).
        epsilon: Proportion used for empty bins (> 0).
        components: Principal components of the pixels to compare (>= 0).

    Returns:
        The drift result over the image features, and the two feature tables (for the
        report's plots).

    Raises:
        ParameterError: On a bad threshold, bins, epsilon or components.
        DataValidationError: If only one side is a raw image Dataset or one is empty.
        ImageDecodeError: Naming files that do not decode or have another shape than the
            reference's majority shape.
    """
    check_params(threshold, bins, epsilon)
    features = image_features(reference, current, components=components)
    ref, cur = features.reference, features.current
    result = feature_drift(ref, cur, threshold, bins=bins, epsilon=epsilon, exclude=())
    return result, ref, cur


def image_features(
    reference: pd.DataFrame | str,
    current: pd.DataFrame | str,
    *,
    components: int = DEFAULT_COMPONENTS,
) -> ImageFeatures:
    """The per-image feature tables of both sides, with the PCA fitted on the reference.

    Args:
        reference: The reference images (a frame, or a Parquet file or shards path).
        current: The current window's images (same forms).
        components: Principal components of the pixels to keep (>= 0).

    Returns:
        Both tables (channel statistics, then ``pca_*``) and the fitted :class:`PixelPCA`.

    Raises:
        As :func:`image_drift`.
    """
    integer = isinstance(components, int | np.integer) and not isinstance(components, bool)
    if not integer or components < 0:
        raise ParameterError(f"components must be an integer >= 0, got {components!r}", "use 8")
    ref, cur = _Source(reference, "reference"), _Source(current, "current")
    for source in (ref, cur):
        if not _is_images(source.data):
            raise DataValidationError(
                f"the {source.side} dataset is not a raw image Dataset (no binary "
                f"'{images.IMAGE_COLUMN}' column) but the other one is",
                "compare images with images: both load_dataset outputs of image folders",
            )
    check_not_empty(ref.rows, cur.rows)
    pca = fit_pca(ref, int(components))
    return ImageFeatures(_features(ref, pca), _features(cur, pca), pca)


def fit_pca(reference: _Source | pd.DataFrame | str, components: int) -> PixelPCA:
    """Fit the pixel PCA on (a systematic sample of) the reference images.

    Args:
        reference: The reference images (a frame, or a Parquet file or shards path).
        components: How many components to keep at most (fewer if the sample has less
            variance directions).

    Returns:
        The fitted :class:`PixelPCA`, for the reference's majority shape.

    Raises:
        DataValidationError: If the reference holds no image.
        ImageDecodeError: Naming a file that does not decode.
    """
    source = reference if isinstance(reference, _Source) else _Source(reference, "reference")
    step = max(math.ceil(source.rows / PCA_FIT_MAX), 1)
    counts: dict[Shape, int] = {}
    sample: dict[Shape, list[np.ndarray]] = {}
    index = 0
    for names, data in source.chunks():
        for name, item in zip(names, data, strict=True):
            array = _decode(item, name)
            height, width, channels = array.shape
            shape = (height, width, channels)
            counts[shape] = counts.get(shape, 0) + 1
            if index % step == 0:
                sample.setdefault(shape, []).append(_small(array, _size(shape)))
            index += 1
    if not counts:
        raise DataValidationError(
            "the reference dataset is empty", "point the reference input at the training data"
        )
    # The most common shape, ties to the largest (as images.majority_shape).
    shape = max(counts, key=lambda k: (counts[k], k))
    size = _size(shape)
    x = np.stack(sample.get(shape) or [np.zeros(size[0] * size[1] * shape[2])])
    centred = x.astype(np.float64)
    mean = centred.mean(axis=0)
    centred -= mean
    s, vt = _principal_axes(centred, components)
    keep = s > max(float(s[0]) if len(s) else 0.0, 1e-12) * 1e-9
    vt, s = vt[keep][:components], s[keep][:components]
    # Deterministic signs: each component's largest loading is positive.
    largest = vt[np.arange(len(vt)), np.argmax(np.abs(vt), axis=1)] if len(vt) else vt[:, 0]
    vt = vt * np.where(largest < 0, -1.0, 1.0)[:, None]
    total = float(np.sum(centred**2))
    ratio = s**2 / total if total > 0 else np.zeros(len(vt))
    share = 100.0 * float(ratio.sum())
    log.info(
        "pixel PCA on %d reference images of shape %s (downscaled to %s): kept %d of %d "
        "components (those with variance), explaining %.1f%% of the variance",
        *(len(x), list(shape), list(size), len(vt), components, share),
    )
    return PixelPCA(shape, size, mean, vt, ratio)


def feature_names(channels: int, pca: PixelPCA) -> list[str]:
    """The feature table's columns: ``channel_<j>_<statistic>`` per channel, then ``pca_*``."""
    stats = [f"channel_{j}_{name}" for j in range(channels) for name in STATISTICS]
    return stats + pca.names


# --- internals -------------------------------------------------------------------------


def _is_images(data: pd.DataFrame | str) -> bool:
    if isinstance(data, pd.DataFrame):
        return images.is_image_frame(data)
    return is_image_dataset(data)


def _decode(item: Any, name: str) -> np.ndarray:
    if not isinstance(item, bytes | bytearray | memoryview):
        raise images.ImageDecodeError(
            f"'{name}' has no image bytes ({type(item).__name__})",
            "drop the row or re-read the file",
        )
    return images.decode(bytes(item), name)


def _principal_axes(centred: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Singular values and right singular vectors (rows) of ``centred``, at least the top ``k``.

    Exact (thin SVD) for small samples; above :data:`EXACT_SVD_MAX` rows and columns a
    seeded randomized SVD (range finder with power iterations, Halko et al. 2011), which
    is deterministic and costs ``O(n * d * k)`` instead of ``O(n * d * min(n, d))``.
    """
    if k == 0:
        return np.empty(0), np.empty((0, centred.shape[1]))
    if min(centred.shape) <= EXACT_SVD_MAX:
        _, s, vt = np.linalg.svd(centred, full_matrices=False)
        return s, vt
    rng = np.random.default_rng(0)
    q, _ = np.linalg.qr(centred @ rng.standard_normal((centred.shape[1], k + 10)))
    for _ in range(4):
        q, _ = np.linalg.qr(centred.T @ q)
        q, _ = np.linalg.qr(centred @ q)
    _, s, vt = np.linalg.svd(q.T @ centred, full_matrices=False)
    return s, vt


def _size(shape: Shape) -> tuple[int, int]:
    """``(height, width)`` with the longer side at most :data:`PCA_MAX_SIDE`."""
    h, w = shape[0], shape[1]
    scale = PCA_MAX_SIDE / max(h, w)
    if scale >= 1.0:
        return h, w
    return max(1, round(h * scale)), max(1, round(w * scale))


def _small(array: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """An image's pixels, box-downscaled to ``size``, flat (h, w, c order), in [0, 1]."""
    if array.shape[:2] != size:
        from PIL import Image

        channels = [
            np.asarray(Image.fromarray(array[..., j]).resize(size[::-1], Image.Resampling.BOX))
            for j in range(array.shape[2])
        ]
        array = np.stack(channels, axis=-1)
    return array.reshape(-1).astype(np.float32) / np.float32(images.PIXEL_SCALE)


def _statistics(batch: np.ndarray) -> np.ndarray:
    """``(m, h, w, c)`` uint8 -> ``(m, c * len(STATISTICS))``, channel-major."""
    m, h, w, c = batch.shape
    flat = batch.reshape(m, h * w, c).astype(np.float64)
    percentiles = np.percentile(flat, list(_PERCENTILES.values()), axis=1)
    columns = [flat.mean(axis=1), flat.std(axis=1), *percentiles]  # each (m, c)
    # (statistic, m, c) -> (m, c, statistic) -> channel-major columns.
    return np.stack(columns, axis=0).transpose(1, 2, 0).reshape(m, c * len(STATISTICS))


def _features(source: _Source, pca: PixelPCA) -> pd.DataFrame:
    """One side's feature table; raises naming files of another shape than ``pca.shape``."""
    parts: list[np.ndarray] = []
    wrong: list[str] = []
    n_wrong = 0
    for names, data in source.chunks():
        arrays = []
        for name, item in zip(names, data, strict=True):
            array = _decode(item, name)
            if array.shape != pca.shape:
                n_wrong += 1
                if len(wrong) < 5:
                    wrong.append(f"'{name}' {list(array.shape)}")
            elif not n_wrong:
                arrays.append(array)
        if n_wrong or not arrays:
            continue
        batch = np.stack(arrays)
        small = np.stack([_small(a, pca.size) for a in arrays])
        parts.append(np.hstack([_statistics(batch), pca.transform(small)]))
    if n_wrong:
        raise images.ImageDecodeError(
            f"{n_wrong} {source.side} image(s) do not have the reference's shape "
            f"{list(pca.shape)} (height, width, channels): {', '.join(wrong)}"
            + (" ..." if n_wrong > len(wrong) else ""),
            "resize them to the reference's shape (or drop them) before drift detection",
        )
    columns = feature_names(pca.shape[2], pca)
    values = np.vstack(parts) if parts else np.empty((0, len(columns)))
    return pd.DataFrame(values, columns=columns)
