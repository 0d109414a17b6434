"""Image models on the real server (loopback HTTP): V1 base64 images and pixel arrays, V2
UINT8 / FP32 / BYTES tensors, Keras and TFLite (float and full-int8) backends, and 400s that
name the problem and the expected shape, after which the server keeps answering.

The model is a small CNN on ``builtin:digits_images`` (8x8 grayscale PNGs), trained in
seconds on the flat pixel vector the preprocessor makes, as ``builtin:cnn`` is.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

from kfp_mlops.components.common.images import encode_png
from kfp_mlops.components.deployment.deploy_model.smoke import request

V1, V2 = "/v1/models/clf:predict", "/v2/models/clf/infer"
N = 24  # test images per request


@dataclass
class ImageModels:
    """The image preprocessor, the model directories and test images with the Keras answers."""

    preprocessor: Path
    keras: Path
    tflite: Path
    tflite_int8: Path
    classes: list[str]
    pixels: np.ndarray  # (N, 8, 8, 1) uint8
    probabilities: np.ndarray  # the Keras model's, on pixels / 255

    @property
    def b64(self) -> list[str]:
        return [base64.b64encode(encode_png(p)).decode() for p in self.pixels]


@pytest.fixture(scope="module")
def image_models(tmp_path_factory) -> ImageModels:
    from kfp_mlops.components.common.tf import import_tf
    from kfp_mlops.components.data.load_dataset.images import digits_images
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
    from kfp_mlops.components.optimization.tflite import calibration_rows, tflite_convert

    tf = import_tf()
    keras = tf.keras
    root = tmp_path_factory.mktemp("image_models")
    split = split_and_preprocess(digits_images(), seed=0)
    pre = split.preprocessor
    assert pre.image_column and pre.task_spec.image_shape == [8, 8, 1]
    pre.save(str(root / "preprocessor.json"))
    x = split.train[pre.feature_names].to_numpy("float32")
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,)),
            keras.layers.Reshape((8, 8, 1)),
            keras.layers.Conv2D(16, 3, activation="relu"),
            keras.layers.GlobalAveragePooling2D(),
            keras.layers.Dense(10, activation="softmax"),
        ]
    )
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.fit(x, split.train["label"].to_numpy(), epochs=15, batch_size=64, verbose=0)
    folders = {name: root / name for name in ("keras", "tflite", "tflite_int8")}
    for folder in folders.values():
        folder.mkdir()
    model.save(str(folders["keras"] / "model.h5"))
    (folders["tflite"] / "model.tflite").write_bytes(tflite_convert(model))
    int8 = tflite_convert(model, "int8", calibration_rows(x, 200), io_type="int8")
    (folders["tflite_int8"] / "model.tflite").write_bytes(int8)

    test = split.test[pre.feature_names].to_numpy("float32")[:N]
    pixels = np.rint(test * 255).astype(np.uint8).reshape(N, 8, 8, 1)
    probabilities = model.predict(pixels.reshape(N, 64) / np.float32(255), verbose=0)
    assert len(set(probabilities.argmax(axis=1))) > 3  # a model that tells digits apart
    return ImageModels(
        root / "preprocessor.json",
        folders["keras"],
        folders["tflite"],
        folders["tflite_int8"],
        [str(c) for c in pre.classes],
        pixels,
        probabilities,
    )


@pytest.fixture(scope="module")
def keras_server(image_models, serve):
    return serve(image_models.keras, image_models.preprocessor, "--backend", "keras")


@pytest.fixture(scope="module")
def tflite_server(image_models, serve):
    return serve(image_models.tflite, image_models.preprocessor)


def post(url: str, path: str, body: bytes | dict, headers: dict | None = None):
    """POST raw bytes (or JSON) and return (status, decoded JSON body)."""
    host, port = url.removeprefix("http://").split(":")
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    conn = http.client.HTTPConnection(host, int(port), timeout=120)
    try:
        conn.request("POST", path, body=data, headers=headers or {})
        resp = conn.getresponse()
        return resp.status, json.loads(resp.read())
    finally:
        conn.close()


def v1(url: str, instances: list) -> dict:
    status, body = post(url, V1, {"instances": instances})
    assert status == 200, body
    return body


def v2(url: str, shape: list[int], datatype: str, data: list) -> dict:
    inputs = [{"name": "image", "shape": shape, "datatype": datatype, "data": data}]
    status, body = post(url, V2, {"inputs": inputs})
    assert status == 200, body
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["probabilities"]["shape"] == [shape[0], 10]
    probs = np.asarray(outputs["probabilities"]["data"]).reshape(shape[0], 10)
    return {"predictions": outputs["predictions"]["data"], "probabilities": probs}


def binary_v2(url: str, tensor: dict, raw: bytes) -> tuple[int, dict]:
    """A V2 request in KServe's binary tensor extension (JSON header + raw tensor bytes)."""
    tensor = dict(tensor, parameters={"binary_data_size": len(raw)})
    header = json.dumps({"inputs": [tensor]}).encode()
    headers = {"inference-header-content-length": str(len(header))}
    return post(url, V2, header + raw, headers)


def assert_matches(answer: dict, models: ImageModels, atol: float = 1e-5) -> None:
    expected = [models.classes[k] for k in models.probabilities.argmax(axis=1)]
    assert answer["predictions"] == expected
    np.testing.assert_allclose(answer["probabilities"], models.probabilities, atol=atol)


@pytest.mark.slow
def test_metadata_names_the_image_input(keras_server):
    meta = request(keras_server, "GET", "/v2/models/clf").body
    assert meta["inputs"] == [{"name": "image", "datatype": "UINT8", "shape": [-1, 8, 8, 1]}]
    assert {o["name"]: o["shape"] for o in meta["outputs"]} == {
        "predictions": [-1],
        "probabilities": [-1, 10],
    }


@pytest.mark.slow
def test_v1_base64_images_and_pixel_arrays_match_the_keras_model(image_models, keras_server):
    m = image_models
    assert_matches(v1(keras_server, [{"b64": b} for b in m.b64]), m)
    assert_matches(v1(keras_server, m.b64), m)  # bare base64 strings
    assert_matches(v1(keras_server, [{"image": {"b64": b}} for b in m.b64]), m)  # named input
    assert_matches(v1(keras_server, [f"data:image/png;base64,{b}" for b in m.b64]), m)
    assert_matches(v1(keras_server, m.pixels.tolist()), m)  # [h, w, c]
    assert_matches(v1(keras_server, m.pixels[..., 0].tolist()), m)  # [h, w]
    assert_matches(v1(keras_server, m.pixels.reshape(N, 64).tolist()), m)  # flat


@pytest.mark.slow
def test_v2_uint8_fp32_and_bytes_tensors_agree(image_models, keras_server):
    m, flat = image_models, image_models.pixels.reshape(-1).tolist()
    assert_matches(v2(keras_server, [N, 8, 8, 1], "UINT8", flat), m)
    nested = m.pixels.tolist()  # nested data is the V2 JSON form too
    assert_matches(v2(keras_server, [N, 8, 8, 1], "UINT8", nested), m)
    assert_matches(v2(keras_server, [N, 8, 8, 1], "FP32", [float(v) for v in flat]), m)
    assert_matches(v2(keras_server, [N, 64], "FP32", flat), m)  # flat, 0-255 too
    assert_matches(v2(keras_server, [N, 8, 8], "UINT8", flat), m)
    assert_matches(v2(keras_server, [N], "BYTES", m.b64), m)
    status, body = binary_v2(
        keras_server,
        {"name": "image", "shape": [N, 8, 8, 1], "datatype": "UINT8"},
        m.pixels.tobytes(),
    )
    assert status == 200, body
    assert body["outputs"][0]["data"] == v1(keras_server, m.b64)["predictions"]


@pytest.mark.slow
def test_tflite_float_model_serves_images(image_models, tflite_server):
    m = image_models
    assert_matches(v1(tflite_server, [{"b64": b} for b in m.b64]), m, atol=1e-4)
    flat = m.pixels.reshape(-1).tolist()
    assert_matches(v2(tflite_server, [N, 8, 8, 1], "UINT8", flat), m, atol=1e-4)


@pytest.mark.slow
def test_tflite_int8_model_serves_images(image_models, serve):
    from kfp_mlops.components.common.inference import TFLiteModel

    m = image_models
    quantized = TFLiteModel(m.tflite_int8 / "model.tflite")
    assert quantized.input["dtype"] == np.int8 and quantized.output["dtype"] == np.int8
    url = serve(m.tflite_int8, m.preprocessor)
    a = v1(url, [{"b64": b} for b in m.b64])
    b = v2(url, [N, 8, 8, 1], "UINT8", m.pixels.reshape(-1).tolist())
    assert a["predictions"] == b["predictions"]
    np.testing.assert_allclose(a["probabilities"], b["probabilities"], atol=1e-6)
    # The server quantizes the pixels as the direct interpreter call does.
    direct = quantized(m.pixels.reshape(N, 64) / np.float32(255))
    np.testing.assert_allclose(a["probabilities"], direct, atol=1e-6)
    agree = np.mean(np.asarray(a["probabilities"]).argmax(1) == m.probabilities.argmax(1))
    assert agree >= 0.8, agree  # int8 stays close to the float model


@pytest.mark.slow
def test_a_large_image_batch_runs_in_the_batch_process(image_models, tflite_server):
    m = image_models
    instances = [{"b64": b} for b in m.b64] * 25  # ~100 KB: over the inline body limit
    assert len(json.dumps({"instances": instances})) > 64 * 1024
    answer = v1(tflite_server, instances)
    small = v1(tflite_server, [{"b64": b} for b in m.b64])
    assert answer["predictions"] == small["predictions"] * 25


def _png_of_shape(shape: tuple[int, ...]) -> str:
    return base64.b64encode(encode_png(np.zeros(shape, np.uint8))).decode()


@pytest.mark.slow
@pytest.mark.parametrize(
    ("path", "body", "match"),
    [
        (V1, {"instances": [{"b64": base64.b64encode(b"not a png").decode()}]},
         r"'instance 0' is not a decodable PNG or JPEG"),
        (V1, {"instances": [{"b64": "%%% not base64"}]}, r"instance 0 is not base64-encoded"),
        (V1, {"instances": [{"b64": _png_of_shape((16, 16))}]},
         r"'instance 0' is \[16, 16, 1\] .* but the model takes \[8, 8, 1\]"),
        (V1, {"instances": [np.zeros((4, 4)).tolist()]},
         r"instance 0 has shape \[4, 4\], but the model takes \[8, 8, 1\]"),
        (V1, {"instances": [[[1, 2], [3]]]}, r"instance 0 is not an array of pixel values"),
        (V1, {"instances": [[300] * 64]}, r"instance 0 has pixel values outside 0-255"),
        (V1, {"instances": [{"pixels": [1]}]}, r"instance 0 is an object with keys \['pixels'\]"),
        (V1, {"instances": [7]}, r"instance 0 is a int"),
        (V1, {"images": []}, r'must be \{"instances": \[\.\.\.\]\} with at least one image'),
        (V2, {"inputs": [{"name": "image", "shape": [1, 4, 4, 4], "datatype": "UINT8",
                          "data": [0] * 64}]},
         r"input 'image' has shape \[1, 4, 4, 4\], but the model takes \[n, 8, 8, 1\]"),
        (V2, {"inputs": [{"name": "image", "shape": [1, 8, 8, 1], "datatype": "INT64",
                          "data": [0] * 64}]},
         r"input 'image' has datatype 'INT64', but an image model takes UINT8 or FP32"),
        (V2, {"inputs": [{"name": "image", "shape": [2, 64], "datatype": "FP32",
                          "data": [0.0] * 64}]},
         r"input 'image' has 64 values, which do not fit its shape \[2, 64\]"),
        (V2, {"inputs": [{"name": "image", "shape": [1, 64], "datatype": "FP32",
                          "data": [-1.0] * 64}]},
         r"input 'image' has values outside 0-255.*FP32 is 0-255 too, not 0-1"),
        (V2, {"inputs": [{"name": "image", "shape": [1, 64], "datatype": "UINT8",
                          "data": [0.5] * 64}]},
         r"input 'image' is UINT8 but has fractions"),
        (V2, {"inputs": [{"name": "image", "shape": [1], "datatype": "BYTES",
                          "data": [base64.b64encode(b"junk").decode()]}]},
         r"input 'image': 'instance 0' is not a decodable PNG or JPEG"),
        (V2, {"inputs": [{"name": "a", "shape": [1, 64], "datatype": "UINT8", "data": [0] * 64},
                         {"name": "b", "shape": [1, 64], "datatype": "UINT8", "data": [0] * 64}]},
         r"an image model takes one input tensor, got 2 inputs \['a', 'b'\]"),
    ],
)  # fmt: skip
def test_bad_image_requests_are_400_and_the_server_keeps_answering(
    image_models, tflite_server, path, body, match
):
    status, answer = post(tflite_server, path, body)
    assert status == 400, answer
    assert re.search(match, answer["error"]), answer["error"]
    # Each message says what to send instead, naming the expected shape.
    assert "[8, 8, 1]" in answer["error"] or "[n, 8, 8, 1]" in answer["error"], answer["error"]
    assert v1(tflite_server, image_models.b64[:2])["predictions"]


@pytest.mark.slow
def test_binary_bytes_that_are_not_text_are_400(image_models, tflite_server):
    png = encode_png(image_models.pixels[0])
    raw = len(png).to_bytes(4, "little") + png  # KServe's BYTES layout: length, bytes
    tensor = {"name": "image", "shape": [1], "datatype": "BYTES"}
    status, answer = binary_v2(tflite_server, tensor, raw)
    assert status == 400, answer
    assert "not UTF-8 text" in answer["error"] and "base64" in answer["error"]
    assert v1(tflite_server, image_models.b64[:1])["predictions"]


@pytest.mark.slow
def test_explain_is_refused_for_image_models(image_models, tflite_server):
    status, answer = post(tflite_server, "/v1/models/clf:explain", {"instances": image_models.b64})
    assert status == 501, answer
    assert "not available for image models" in answer["error"]
    assert "':predict'" in answer["error"]
