"""Image models on the server: V1 and V2 bodies -> the model's flat pixel vector, 400s that say why.

A model whose preprocessor has an ``image_column`` takes the flat float32 pixel vector
``(n, height * width * channels)`` in [0, 1] (:mod:`~kfp_mlops.components.common.images`).
Clients send images, never that vector:

- V1 ``{"instances": [...]}``, each instance ``{"b64": "<base64 PNG/JPEG>"}`` (TensorFlow
  Serving's convention; also ``{"<image column>": {"b64": ...}}``), a base64 string, or
  pixel values 0-255 as nested lists ``[h][w][c]``, ``[h][w]`` (one channel) or flat.
- V2: one input, ``UINT8`` or ``FP32`` pixel values 0-255 of shape ``[n, h, w, c]`` (or
  ``[n, h, w]`` for one channel, or flat ``[n, h * w * c]``), or ``BYTES`` of shape ``[n]``
  holding base64-encoded PNG/JPEG images.

FP32 pixels are 0-255 like UINT8, *not* [0, 1]: both are divided by 255 here, exactly as
training did, so a client never needs to know the model's scaling. Values outside 0-255 are
a 400; values already scaled to [0, 1] cannot be told apart from a dark image, hence the
rule stated in every message. Decoding and the shape rules are
:func:`~kfp_mlops.components.common.images.request_pixels`, the module the preprocessor
decodes training images with.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
from kserve.errors import InvalidInput
from kserve.protocol.infer_type import InferRequest

from kfp_mlops.components.common import images
from kfp_mlops.components.common.errors import DataValidationError
from kfp_mlops.components.common.images import PIXEL_SCALE
from kfp_mlops.components.serving import protocol

#: V2 datatypes an image input may have (pixel values 0-255, or base64-encoded images).
V2_DATATYPES = ("UINT8", "FP32", "BYTES")
#: Why ``:explain`` answers 501 for an image model.
EXPLAIN_UNSUPPORTED = (
    "':explain' is not available for image models: the server's explainer attributes a "
    "prediction to tabular columns (Shapley values of raw features), and an image's pixels are "
    "not such columns; use ':predict' for the classes and probabilities"
)

_BYTES_IO = re.compile(r" ?<_io\.BytesIO object at 0x[0-9a-fA-F]+>")


class ImageEncoder:
    """Images in a request -> model features, through the preprocessor's own image path.

    Args:
        preprocessor: The served preprocessor (has ``image_column`` and ``image_shape``).
        model_name: The model's name, for the metadata URL in messages.
    """

    def __init__(self, preprocessor: Any, model_name: str) -> None:
        self.preprocessor = preprocessor
        self.shape = [int(s) for s in preprocessor.task_spec.image_shape]
        self.width = math.prod(self.shape)
        self.input_name = preprocessor.image_column
        self.model_name = model_name
        h, w, c = self.shape
        self._shapes = images.pixel_shapes(self.shape)  # [h, w, c], flat, [h, w] if one channel
        self.expected = f"[n, {h}, {w}, {c}]"
        self.one = f"[{h}, {w}, {c}]"  # one instance's shape
        size = f"{h}x{w} pixels with {c} channel(s)"
        self.how_v1 = (
            'send each instance as {"b64": "<base64 PNG/JPEG>"} of ' + size + ", or as pixel "
            f"values 0-255 of shape {self.one} (height, width, channels)"
        )
        self.how = (
            f"send pixel values 0-255 of shape {self.expected} (or flat [n, {self.width}]) as "
            "UINT8 or FP32 (FP32 is 0-255 too, not 0-1), or one BYTES input of shape [n] with "
            f"base64-encoded PNG/JPEG images of {size}"
        )

    @classmethod
    def of(cls, preprocessor: Any, model_name: str) -> ImageEncoder | None:
        """The encoder of an image model's preprocessor; None for a tabular one."""
        return cls(preprocessor, model_name) if preprocessor.image_column else None

    def input_types(self) -> list[dict[str, Any]]:
        """The V2 metadata's one input: UINT8 pixels ``[-1, h, w, c]`` (FP32, BYTES also taken)."""
        return [{"name": self.input_name, "datatype": "UINT8", "shape": [-1, *self.shape]}]

    def count_rows(self, payload: Any) -> int:
        """Images in a decoded request (see :func:`protocol.count_rows`), with image wording.

        Raises:
            InvalidInput: If a V1 body is not ``{"instances": [...]}`` with at least one image.
        """
        try:
            return protocol.count_rows(payload)
        except InvalidInput:
            raise InvalidInput(
                'the body must be {"instances": [...]} with at least one image, each '
                '{"b64": "<base64 PNG/JPEG>"}, a base64 string or pixel values 0-255 of shape '
                f"{self.one} (height, width, channels)"
            ) from None

    def encode(self, payload: dict | InferRequest) -> np.ndarray:
        """A V1 body or a V2 request -> float32 features ``(n, h * w * c)`` in [0, 1].

        Raises:
            InvalidInput: Naming the instance or input at fault and the expected format.
        """
        if isinstance(payload, InferRequest):
            return self.from_v2(payload)
        return self.from_v1(payload["instances"])

    # -- V1 -----------------------------------------------------------------------------
    def from_v1(self, instances: list[Any]) -> np.ndarray:
        """V1 instances (base64 images or pixel arrays 0-255) -> features."""
        # {"image": {"b64": ...}}: TensorFlow Serving's row format with the input named.
        instances = [
            item[self.input_name]
            if isinstance(item, dict) and set(item) == {self.input_name}
            else item
            for item in instances
        ]
        for i, item in enumerate(instances):
            self._check_instance(i, item)
        features = self._images(instances, "", self.how_v1)
        bad = np.flatnonzero(((features < 0) | (features > 1)).any(axis=1))
        if len(bad):
            raise InvalidInput(
                f"instance {int(bad[0])} has pixel values outside 0-255 (the server scales "
                f"0-255 by 1/255, as training did); {self.how_v1}"
            )
        return features

    def _check_instance(self, i: int, item: Any) -> None:
        """Name a pixel array's own shape (the preprocessor's message adds the batch axis)."""
        if isinstance(item, dict | str):
            return  # {"b64": ...} or base64: the preprocessor names what is wrong
        if not isinstance(item, list):
            raise InvalidInput(f"instance {i} is a {type(item).__name__}; {self.how_v1}")
        try:  # ragged lists make numpy raise before the preprocessor could name the instance
            shape = np.asarray(item, dtype=np.float64).shape
        except (ValueError, TypeError) as exc:
            raise InvalidInput(
                f"instance {i} is not an array of pixel values ({exc}); {self.how_v1}"
            ) from exc
        if shape not in self._shapes:
            raise InvalidInput(
                f"instance {i} has shape {list(shape)}, but the model takes {self.one} "
                f"(height, width, channels); {self.how_v1}"
            )

    def _images(self, instances: list[Any], where: str, how: str) -> np.ndarray:
        try:
            return images.request_pixels(instances, self.shape)
        except DataValidationError as exc:  # its fix speaks of files: say what to send instead
            problem = _BYTES_IO.sub("", exc.problem)  # Pillow names its buffer: noise here
            raise InvalidInput(f"{where}{problem}; {how}") from exc

    # -- V2 -----------------------------------------------------------------------------
    def from_v2(self, request: InferRequest) -> np.ndarray:
        """One V2 input (UINT8/FP32 pixels 0-255, or BYTES base64 images) -> features."""
        if len(request.inputs) != 1:
            names = [i.name for i in request.inputs]
            raise InvalidInput(
                f"an image model takes one input tensor, got {len(names)} inputs {names[:5]}; "
                f"{self.how} (GET /v2/models/{self.model_name} lists it)"
            )
        tensor = request.inputs[0]
        name, datatype, shape = tensor.name, tensor.datatype, [int(s) for s in tensor.shape]
        if datatype not in V2_DATATYPES:
            raise InvalidInput(
                f"input '{name}' has datatype '{datatype}', but an image model takes UINT8 or "
                f"FP32 pixels or BYTES images; {self.how}"
            )
        if datatype == "BYTES":
            return self._v2_bytes(tensor, shape)
        if len(shape) < 2 or tuple(shape[1:]) not in self._shapes:
            raise InvalidInput(
                f"input '{name}' has shape {shape}, but the model takes {self.expected} "
                f"(rows, height, width, channels); {self.how}"
            )
        values = self._numbers(tensor, shape)
        if not ((values >= 0) & (values <= PIXEL_SCALE)).all():
            raise InvalidInput(f"input '{name}' has values outside 0-255; {self.how}")
        if datatype == "UINT8" and not (values == np.round(values)).all():
            raise InvalidInput(f"input '{name}' is UINT8 but has fractions; {self.how}")
        return (values.reshape(shape[0], self.width) / PIXEL_SCALE).astype(np.float32)

    def _numbers(self, tensor: Any, shape: list[int]) -> np.ndarray:
        """The input's values as float64 of its declared shape (JSON and binary alike)."""
        data = tensor.data  # the binary extension's tensors arrive as a flat list too
        try:
            values = np.asarray(data, dtype=np.float64)
        except (ValueError, TypeError) as exc:
            raise InvalidInput(
                f"input '{tensor.name}' has values that are not {tensor.datatype} numbers "
                f"({exc}); {self.how}"
            ) from exc
        if values.size != math.prod(shape):
            raise InvalidInput(
                f"input '{tensor.name}' has {values.size} values, which do not fit its shape "
                f"{shape} ({math.prod(shape)} values); {self.how}"
            )
        if not np.isfinite(values).all():
            raise InvalidInput(f"input '{tensor.name}' has non-finite values; {self.how}")
        return values.reshape(shape)

    def _v2_bytes(self, tensor: Any, shape: list[int]) -> np.ndarray:
        """A BYTES input: one base64-encoded PNG/JPEG per row."""
        if len(shape) not in (1, 2) or (len(shape) == 2 and shape[1] != 1):
            raise InvalidInput(
                f"input '{tensor.name}' (BYTES) has shape {shape}, but images as BYTES are one "
                "base64-encoded PNG/JPEG per row: shape [n]"
            )
        data = tensor.data if isinstance(tensor.data, list) else list(tensor.as_numpy())
        flat = list(np.asarray(data, dtype=object).reshape(-1))
        if len(flat) != shape[0]:
            raise InvalidInput(
                f"input '{tensor.name}' has {len(flat)} values, which do not fit its shape "
                f"{shape}; send one base64-encoded image per row"
            )
        if not all(isinstance(v, str | bytes) for v in flat):
            raise InvalidInput(
                f"input '{tensor.name}' (BYTES) holds values that are not strings; send one "
                "base64-encoded PNG/JPEG per row"
            )
        # JSON carries text: a BYTES element is the base64 of the encoded file.
        texts = [v.decode("ascii", "replace") if isinstance(v, bytes) else v for v in flat]
        return self._images(texts, f"input '{tensor.name}': ", self.how)
