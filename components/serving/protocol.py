"""The V1 and V2 request formats: bodies -> rows of raw feature values, with 400s that say why.

Every fault of a request is an :class:`~kserve.errors.InvalidInput` (answered 400) naming the
row, feature or input at fault and what the server expects instead; never a bare exception
text. A body is read as JSON whatever its ``content-type`` says (``curl -d`` sends
``application/x-www-form-urlencoded``), except V2's binary extension, which declares itself
with the ``inference-header-content-length`` header.
"""

from __future__ import annotations

import math
import re
from typing import Any

import numpy as np
import orjson
from kserve.errors import InferenceError, InvalidInput
from kserve.protocol.infer_type import InferRequest, to_np_dtype
from kserve.protocol.rest.v2_datamodels import InferenceRequest, RequestInput
from pydantic import ValidationError

BINARY_HEADER = "inference-header-content-length"
V1_SHAPE = '{"instances": [...]}'
V2_SHAPE = '{"inputs": [{"name": ..., "shape": [...], "datatype": ..., "data": [...]}]}'

Columns = tuple[Any, list[list[Any]]]  # numeric (n, k) values, categorical rows


def _json(body: bytes, shape: str) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(
            f"the body is not valid JSON ({exc}); send a JSON object of the form {shape}"
        ) from exc


def _array_in_pieces(body: bytes, key: bytes, piece_bytes: int) -> list | None:
    """The list under ``key`` of a body ``{"<key>": [...]}``, parsed ``piece_bytes`` at a time.

    Parsing megabytes in one ``orjson.loads`` holds the GIL for tens of ms, stalling the event
    loop however the work is threaded; pieces of a few hundred KiB hold it a few ms each. A
    piece ends after a ``}`` or ``]`` followed by ``,``: a cut inside a string or a nested
    value leaves an unterminated or unbalanced piece, which does not parse. Returns ``None``
    for any other layout or such a cut (the caller then parses the body whole).
    """
    head = re.match(rb'\s*\{\s*"' + key + rb'"\s*:\s*\[\s*', body)
    tail = re.search(rb"\]\s*\}\s*$", body)
    if head is None or tail is None or tail.start() < head.end():
        return None
    pos, end, items = head.end(), tail.start(), []
    separator = {ord("{"): b"},", ord("["): b"],"}.get(body[pos] if pos < end else 0)
    if separator is None:
        return None
    while pos < end:
        cut = body.find(separator, min(pos + piece_bytes, end), end)
        stop = end if cut < 0 else cut + 1
        try:
            items.extend(orjson.loads(b"[" + body[pos:stop] + b"]"))
        except orjson.JSONDecodeError:
            return None
        pos = stop + 1
    return items


def decode_v1(body: bytes, piece_bytes: int = 0) -> Any:
    """A V1 body -> the decoded JSON document (in pieces, if larger than ``piece_bytes``)."""
    if piece_bytes and len(body) > piece_bytes:
        rows = _array_in_pieces(body, b"instances", piece_bytes)
        if rows is not None:
            return {"instances": rows}
    return _json(body, V1_SHAPE)


def _problems(exc: ValidationError, prefix: str = "") -> str:
    return "; ".join(
        f"{prefix}{'.'.join(str(p) for p in e['loc']) or 'body'}: {e['msg']}"
        for e in exc.errors()[:5]
    )


def _v2_in_pieces(body: bytes, piece_bytes: int) -> InferenceRequest | None:
    """A ``{"inputs": [...]}`` body, parsed and validated one piece of inputs at a time."""
    items = _array_in_pieces(body, b"inputs", piece_bytes)
    if items is None:
        return None
    inputs = []
    for i, item in enumerate(items):
        try:
            inputs.append(RequestInput.model_validate(item))
        except ValidationError as exc:
            raise InvalidInput(
                f"the body is not a V2 inference request ({_problems(exc, f'inputs.{i}.')}); "
                f"send {V2_SHAPE}"
            ) from exc
    return InferenceRequest.model_construct(id=None, parameters=None, inputs=inputs, outputs=None)


def decode_v2(
    body: bytes, headers: dict[str, str], model_name: str, piece_bytes: int = 0
) -> InferRequest:
    """A V2 body (JSON, or the binary tensor extension) -> an :class:`InferRequest`.

    A JSON body larger than ``piece_bytes`` (if set) is parsed in pieces.
    """
    if BINARY_HEADER in headers:
        try:
            return InferRequest.from_bytes(body, int(headers[BINARY_HEADER]), model_name)
        except (ValueError, TypeError, KeyError, IndexError) as exc:
            raise InvalidInput(
                f"the binary V2 body does not match its {BINARY_HEADER} header "
                f"({headers[BINARY_HEADER]!r}): {exc}; the header must give the length of the "
                "JSON part, followed by the tensors' raw bytes"
            ) from exc
        except InferenceError as exc:  # KServe re-reads binary BYTES as UTF-8 text
            raise InvalidInput(
                f"a BYTES tensor of the binary V2 body is not UTF-8 text ({exc}); send BYTES "
                "elements as text: images base64-encoded"
            ) from exc
    request = _v2_in_pieces(body, piece_bytes) if piece_bytes and len(body) > piece_bytes else None
    if request is None:
        document = _json(body, V2_SHAPE)
        try:
            request = InferenceRequest.model_validate(document)
        except ValidationError as exc:
            raise InvalidInput(
                f"the body is not a V2 inference request ({_problems(exc)}); send {V2_SHAPE}"
            ) from exc
    return InferRequest.from_inference_request(request, model_name)


def count_rows(payload: Any) -> int:
    """Rows in a decoded request, cheaply (before any value is converted).

    Raises:
        InvalidInput: If a V1 body is not ``{"instances": [...]}`` with at least one row.
    """
    if isinstance(payload, InferRequest):
        return max((int(i.shape[0]) for i in payload.inputs if i.shape), default=0)
    if not isinstance(payload, dict) or "instances" not in payload:
        raise InvalidInput(
            'the body must be {"instances": [...]}: a list of rows, each a '
            "{feature: value} object or a list of values in the order of GET /v2/models/<name>"
        )
    rows = payload["instances"]
    if not isinstance(rows, list) or not rows:
        raise InvalidInput('"instances" must be a non-empty list of rows')
    return len(rows)


def columns_from_v1(payload: dict, columns: list[str], k: int, model: str) -> Columns:
    """V1 rows (objects or lists) -> numeric and categorical values, in column order.

    Args:
        payload: The decoded body (checked by :func:`count_rows`).
        columns: Raw feature columns, numeric first.
        k: How many of them are numeric.
        model: The model's name, for the metadata URL in messages.
    """
    records = []
    for i, row in enumerate(payload["instances"]):
        if isinstance(row, dict):
            try:
                records.append([row[c] for c in columns])
            except KeyError:
                missing = [c for c in columns if c not in row]
                raise InvalidInput(
                    f"instance {i} is missing feature(s) {missing[:5]}"
                    + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
                ) from None
        elif isinstance(row, list):
            if len(row) != len(columns):
                raise InvalidInput(
                    f"instance {i} has {len(row)} values but the model takes "
                    f"{len(columns)} features (in the order of GET /v2/models/{model})"
                )
            records.append(row)
        else:
            raise InvalidInput(f"instance {i} is a {type(row).__name__}: send an object or list")
    return [r[:k] for r in records], [r[k:] for r in records]


def as_array(tensor: Any, n_columns: int) -> np.ndarray:
    """A V2 input's data as a numpy array of its declared shape.

    Raises:
        InvalidInput: Naming the input, if its datatype is unknown, its values do not convert
            or their count does not fit its shape.
    """
    name, shape, datatype = tensor.name, list(tensor.shape), tensor.datatype
    if to_np_dtype(datatype) is None:
        raise InvalidInput(
            f"input '{name}' has datatype '{datatype}', which the V2 protocol does not define; "
            "use FP32 (or FP64) for numeric features and BYTES for categorical ones"
        )
    try:
        return tensor.as_numpy()
    except (ValueError, TypeError) as exc:
        data = tensor.data if isinstance(tensor.data, list) else []
        values = int(np.asarray(data, dtype=object).size) if data else 0
        expected = math.prod(shape)
        if values and values != expected:
            problem = f"has {values} values, which do not fit its shape {shape} ({expected} values)"
        else:
            problem = f"has values that are not {datatype} ({exc})"
        raise InvalidInput(
            f"input '{name}' {problem}; send shape [n] with n values per feature, or one "
            f"[n, {n_columns}] input with the rows' raw values"
        ) from exc


def columns_from_v2(request: InferRequest, columns: list[str], k: int, model: str) -> Columns:
    """V2 inputs (one per feature, or one ``[n, columns]`` tensor) -> numeric, categorical."""
    inputs = {i.name: i for i in request.inputs}
    if len(inputs) == 1 and len(next(iter(inputs.values())).shape) == 2:
        # One [n, columns] tensor of raw values, columns in metadata order.
        (tensor,) = inputs.values()
        array = as_array(tensor, len(columns))
        if array.shape[1] != len(columns):
            raise InvalidInput(
                f"input '{tensor.name}' has {array.shape[1]} columns but the model takes "
                f"{len(columns)} features (in the order of GET /v2/models/{model})"
            )
        return array[:, :k], array[:, k:].tolist()
    missing = [c for c in columns if c not in inputs]
    if missing:
        raise InvalidInput(
            f"inputs {missing[:5]} are missing"
            + (f" ({len(missing)} in all)" if len(missing) > 5 else "")
            + f": send one input per feature, as listed by GET /v2/models/{model}"
        )
    values = [as_array(inputs[c], len(columns)).reshape(-1) for c in columns]
    lengths = {c: len(v) for c, v in zip(columns, values, strict=True)}
    if len(set(lengths.values())) != 1:
        first = columns[0]
        other = next(c for c in columns if lengths[c] != lengths[first])
        raise InvalidInput(
            f"inputs have different lengths (input '{first}' has {lengths[first]} values, "
            f"input '{other}' {lengths[other]}): send the same n rows for every feature"
        )
    n = lengths[columns[0]]
    numeric = np.stack(values[:k], axis=1) if k else np.zeros((n, 0))
    categorical = (
        [
            [v.decode() if isinstance(v, bytes) else v for v in row]
            for row in zip(*values[k:], strict=True)
        ]
        if len(values) > k
        else [[] for _ in range(n)]
    )
    return numeric, categorical
