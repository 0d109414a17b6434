"""One kfp.local run of the three optimization wrappers: prune -> quantize, and ONNX export."""
# No `from __future__ import annotations`: KFP reads the pipeline signature's real types.

import json
from pathlib import Path
from typing import NamedTuple

import pytest


@pytest.mark.slow
def test_prune_then_quantize_and_export_under_kfp_local(kfp_local, trained_model, splits):
    from kfp import dsl
    from kfp.dsl import Dataset, Metrics, Model

    from kfp_mlops.components.optimization.export_onnx.component import export_onnx
    from kfp_mlops.components.optimization.prune_model.component import prune_model
    from kfp_mlops.components.optimization.quantize_model.component import quantize_model

    class Outputs(NamedTuple):
        pruned: Model
        prune_metrics: Metrics
        quantized: Model
        quantize_blessed: bool
        onnx: Model
        onnx_metrics: Metrics

    @dsl.pipeline(name="optimize-test")
    def optimize() -> Outputs:
        model = dsl.importer(artifact_uri=trained_model, artifact_class=Model)
        train = dsl.importer(artifact_uri=splits.train, artifact_class=Dataset)
        validation = dsl.importer(artifact_uri=splits.validation, artifact_class=Dataset)
        test = dsl.importer(artifact_uri=splits.test, artifact_class=Dataset)
        data = {"train": train.output, "validation": validation.output, "test": test.output}
        pruned = prune_model(
            model=model.output, **data, epochs=2, gate_mode="mark", latency_runs=20
        )
        quantized = quantize_model(
            model=pruned.outputs["pruned_model"], **data, gate_mode="mark", latency_runs=20
        )
        onnx = export_onnx(
            model=pruned.outputs["pruned_model"],
            test=test.output,
            gate_mode="mark",
            latency_runs=20,
        )
        return Outputs(
            pruned=pruned.outputs["pruned_model"],
            prune_metrics=pruned.outputs["metrics"],
            quantized=quantized.outputs["quantized_model"],
            quantize_blessed=quantized.outputs["Output"],
            onnx=onnx.outputs["onnx_model"],
            onnx_metrics=onnx.outputs["metrics"],
        )

    run = optimize()
    pruned, quantized, onnx = run.outputs["pruned"], run.outputs["quantized"], run.outputs["onnx"]
    assert (Path(pruned.path) / "model.h5").exists()
    assert abs(run.outputs["prune_metrics"].metadata["sparsity"] - 0.5) <= 0.02
    assert pruned.metadata["layer_sparsity"]["dense_0"] == pytest.approx(0.5, abs=0.02)
    assert (Path(quantized.path) / "model.tflite").exists()
    assert quantized.metadata["mode"] == "int8"
    # quantize reuses prune's float32 model.tflite, and the record names both steps.
    assert quantized.metadata["float32_baseline"] == "reused from the input model directory"
    record = json.loads((Path(quantized.path) / "optimization.json").read_text())
    assert "kernel sparsity (Dense and conv)" in record["pruning"]
    assert record["quantization"].startswith("int8 post-training quantization")
    assert isinstance(run.outputs["quantize_blessed"], bool)
    assert run.outputs["quantize_blessed"] == quantized.metadata["blessed"]
    assert (Path(onnx.path) / "model.onnx").exists()
    assert run.outputs["onnx_metrics"].metadata["max_abs_diff"] <= 1e-4
