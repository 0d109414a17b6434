"""Image datasets: one owner for how images are stored, decoded and turned into features.

A raw image Dataset (what ``load_dataset`` writes from an image folder) is a table::

    file     string   path relative to the folder, e.g. "7/img_00012.png"
    image    binary   the encoded file bytes (PNG or JPEG), exactly as read
    <target> string   the class: the name of the file's subfolder

so validation can name a corrupt or odd-shaped file, and the same sharded-Parquet machinery
that moves tables moves images. ``split_and_preprocess`` decodes them into the flat float32
pixel vector every later step feeds the model (``pixel_00000`` ... in height, width,
channel order, scaled to [0, 1]); the task spec records ``image_shape`` and
``builtin:cnn`` reshapes the vector back. Decoding uses Pillow only (every image has it).
"""

from __future__ import annotations

import base64
import io
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from kfp_mlops.components.common.errors import DataLoadError, DataValidationError

FILE_COLUMN = "file"
IMAGE_COLUMN = "image"
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg")
#: Pixel values are stored as uint8 and fed to models divided by this.
PIXEL_SCALE = 255.0


class ImageDecodeError(DataValidationError):
    """An image file cannot be decoded, or does not have the expected shape."""


@dataclass(frozen=True)
class ImageFacts:
    """What validation needs to know about one file without keeping its pixels."""

    file: str
    decodes: bool
    height: int = 0
    width: int = 0
    channels: int = 0
    mean: float = float("nan")
    error: str = ""


def is_image_file(name: str) -> bool:
    """Whether a file name has an image suffix this library decodes."""
    return name.lower().endswith(IMAGE_SUFFIXES)


def is_image_frame(frame: Any) -> bool:
    """Whether a table is a raw image Dataset (has the ``image`` bytes column)."""
    if IMAGE_COLUMN not in getattr(frame, "columns", ()):
        return False
    column = frame[IMAGE_COLUMN]
    return len(column) == 0 or isinstance(column.iloc[0], bytes | bytearray | memoryview)


def decode(data: bytes, name: str = "image") -> np.ndarray:
    """Encoded PNG/JPEG bytes -> uint8 array ``(height, width, channels)``.

    Grayscale stays one channel; palette, CMYK and 16-bit images become RGB or 8-bit
    grayscale; an alpha channel is dropped (it carries no class information here).

    Raises:
        ImageDecodeError: Naming ``name`` when the bytes are not a decodable image.
    """
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(bytes(data))) as opened:
            opened.load()
            img = opened
            if img.mode in ("I;16", "I", "F", "1", "LA"):
                img = img.convert("L")
            elif img.mode not in ("L", "RGB"):
                img = img.convert("RGB")
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise ImageDecodeError(
            f"'{name}' is not a decodable PNG or JPEG ({exc})",
            "remove or re-export the file",
        ) from exc
    return array[..., None] if array.ndim == 2 else array


def encode_png(array: np.ndarray) -> bytes:
    """uint8 array ``(height, width[, channels])`` -> PNG bytes (lossless)."""
    from PIL import Image

    array = np.asarray(array, dtype=np.uint8)
    if array.ndim == 3 and array.shape[-1] == 1:
        array = array[..., 0]
    out = io.BytesIO()
    Image.fromarray(array).save(out, format="PNG")
    return out.getvalue()


def inspect(data: bytes, name: str) -> ImageFacts:
    """Decode one file for validation: its shape and mean intensity, or why it failed."""
    try:
        array = decode(data, name)
    except ImageDecodeError as exc:
        return ImageFacts(file=name, decodes=False, error=str(exc.args[0]))
    h, w, c = array.shape
    return ImageFacts(name, True, h, w, c, float(array.mean()))


def check_shape(array: np.ndarray, shape: list[int] | tuple[int, ...], name: str) -> None:
    """Raise naming ``name`` when an image is not ``[height, width, channels]``.

    Raises:
        ImageDecodeError: On a different shape (the model has a fixed input).
    """
    if list(array.shape) != list(shape):
        raise ImageDecodeError(
            f"'{name}' is {list(array.shape)} (height, width, channels) but the model takes "
            f"{list(shape)}",
            "resize the image to the training shape before sending or loading it",
        )


def pixel_shapes(shape: list[int]) -> list[tuple[int, ...]]:
    """The shapes one image's pixel values may come in: ``(h, w, c)``, flat, ``(h, w)`` if c=1."""
    h, w, c = (int(d) for d in shape)
    return [(h, w, c), (h * w * c,)] + ([(h, w)] if c == 1 else [])


def _decoded(data: bytes, shape: list[int], name: str) -> np.ndarray:
    """One encoded image -> its flat float32 pixels in [0, 1], checked against ``shape``."""
    array = decode(data, name)
    check_shape(array, shape, name)
    return array.reshape(-1).astype(np.float32) / np.float32(PIXEL_SCALE)


def pixels(
    images: Iterable[bytes], shape: list[int], names: Iterable[str] | None = None
) -> np.ndarray:
    """Encoded images -> float32 features ``(n, height * width * channels)`` in [0, 1].

    Raises:
        ImageDecodeError: Naming the first file that does not decode or has another shape.
    """
    images = list(images)
    names = list(names) if names is not None else [f"image {i}" for i in range(len(images))]
    out = np.empty((len(images), int(np.prod(shape))), dtype=np.float32)
    for i, (data, name) in enumerate(zip(images, names, strict=True)):
        out[i] = _decoded(data, shape, name)
    return out


def array_pixels(values: Any, shape: list[int], what: str = "the images") -> np.ndarray:
    """Arrays of pixel values (0-255, any numeric dtype) -> float32 features in [0, 1].

    Accepts ``(n, height, width, channels)``, ``(n, height, width)`` for one channel, or
    the flat ``(n, height * width * channels)``.

    Raises:
        DataValidationError: On another shape or non-finite values.
    """
    try:
        array = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise DataValidationError(
            f"{what} are not arrays of numbers ({exc})",
            f"send pixel values 0-255 of shape [n, {', '.join(map(str, shape))}]",
        ) from exc
    width = int(np.prod(shape))
    n = array.shape[0] if array.ndim else 0
    if array.ndim == 0 or array.shape[1:] not in pixel_shapes(shape):
        raise DataValidationError(
            f"{what} have shape {list(array.shape)}, the model takes [n, "
            f"{', '.join(map(str, shape))}]",
            "resize the images to the training shape",
        )
    if not np.isfinite(array).all():
        raise DataValidationError(f"{what} hold non-finite values", "send pixel values 0-255")
    return array.reshape(n, width) / np.float32(PIXEL_SCALE)


def features_to_png(features: np.ndarray, shape: list[int]) -> list[bytes]:
    """Flat pixel features in [0, 1] -> PNG files again (the inverse of :func:`pixels`)."""
    raw = np.clip(np.rint(np.asarray(features) * PIXEL_SCALE), 0, 255).astype(np.uint8)
    return [encode_png(row.reshape(shape)) for row in raw]


def to_base64(data: bytes) -> str:
    """Encoded image bytes as the base64 text requests carry (``{"b64": ...}``)."""
    return base64.b64encode(bytes(data)).decode("ascii")


def from_base64(text: str, name: str = "image") -> bytes:
    """A base64 string (plain or ``data:image/png;base64,...``) -> the encoded bytes.

    Raises:
        ImageDecodeError: If the text is not base64.
    """
    payload = text.split(",", 1)[1] if text.startswith("data:") else text
    try:
        return base64.b64decode(payload, validate=True)
    except (ValueError, TypeError) as exc:
        raise ImageDecodeError(
            f"{name} is not base64-encoded ({exc})",
            'send {"b64": base64.b64encode(png_bytes).decode()}',
        ) from exc


def pixel_names(shape: list[int]) -> list[str]:
    """Feature names of the flat pixel vector: ``pixel_00000``... (height, width, channel)."""
    return [f"pixel_{i:05d}" for i in range(int(np.prod(shape)))]


def majority_shape(facts: Iterable[ImageFacts]) -> list[int]:
    """The most common ``[height, width, channels]`` of the decodable files.

    Raises:
        DataLoadError: If no file decodes.
    """
    counts: dict[tuple[int, int, int], int] = {}
    for f in facts:
        if f.decodes:
            key = (f.height, f.width, f.channels)
            counts[key] = counts.get(key, 0) + 1
    if not counts:
        raise DataLoadError("no image decodes", "check that the folder holds PNG or JPEG files")
    return list(max(counts, key=lambda k: (counts[k], k)))


def request_pixels(instances: list[Any], shape: list[int]) -> np.ndarray:
    """Images sent to the model server -> float32 features ``(n, h * w * c)`` in [0, 1].

    Each instance is ``{"b64": "<base64 PNG/JPEG>"}`` (TensorFlow Serving's convention), a
    base64 string, the encoded bytes, or pixel values 0-255 (nested lists or an array of
    shape ``[h, w, c]``, ``[h, w]`` for one channel, or flat).

    Raises:
        DataValidationError: Naming the instance that does not decode or fit the shape.
    """
    out = np.empty((len(instances), int(np.prod(shape))), dtype=np.float32)
    for i, sent in enumerate(instances):
        name, item = f"instance {i}", sent
        if isinstance(item, dict):
            if set(item) != {"b64"} or not isinstance(item["b64"], str):
                raise DataValidationError(
                    f"{name} is an object with keys {sorted(item)}",
                    'send an image as {"b64": "<base64 PNG or JPEG>"} or as pixel arrays',
                )
            item = item["b64"]
        if isinstance(item, str):
            item = from_base64(item, name)
        if isinstance(item, bytes | bytearray | memoryview):
            out[i] = _decoded(bytes(item), shape, name)
        else:
            out[i] = array_pixels(np.asarray(item)[None, ...], shape, name)[0]
    return out
