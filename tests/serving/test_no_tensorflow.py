"""Evaluating and serving a TFLite model needs only LiteRT: TensorFlow is never imported."""

from __future__ import annotations

import json

import pytest

from tests.subprocess_json import run_json

CODE = """
import asyncio, json, sys
from kfp_mlops.components.common import inference
from kfp_mlops.components.serving.model import ClassifierModel

model_dir, preprocessor, rows = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
lite = inference.load_model("tflite", model_dir + "/model.tflite")   # evaluation's path
model = ClassifierModel("clf", model_dir, preprocessor)              # the server's
model.load()

async def answer():
    batch = await model.preprocess({"instances": rows})
    return await model.postprocess(await model.predict(batch))

out = asyncio.run(answer())
heavy = sorted(m for m in ("tensorflow", "tf_keras", "keras") if m in sys.modules)
print(json.dumps({"heavy": heavy, "predictions": out["predictions"], "width": lite.input_width}))
"""


@pytest.mark.slow
def test_serving_a_tflite_model_imports_no_tensorflow(models):
    args = [str(models.tflite), str(models.preprocessor), json.dumps(models.rows(3))]
    result = run_json(CODE, *args, timeout=300)
    assert result["heavy"] == []
    assert len(result["predictions"]) == 3 and set(result["predictions"]) <= set(models.classes)
    assert result["width"] == len(models.inputs)
