"""One kfp.local run of distill_model, its student then pruned and int8-quantized."""
# No `from __future__ import annotations`: KFP reads the pipeline signature's real types.

import json
from pathlib import Path
from typing import NamedTuple

import pytest


@pytest.fixture
def preprocessor_dir(breast_cancer, tmp_path) -> str:
    """The preprocessor JSON of the same split as the ``splits`` fixture, in a directory."""
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess

    result = split_and_preprocess(breast_cancer, target_column="target", seed=42)
    folder = tmp_path / "preprocessor"
    folder.mkdir()
    result.preprocessor.save(str(folder / "preprocessor.json"))
    return str(folder / "preprocessor.json")


@pytest.mark.slow
def test_distill_then_prune_and_quantize_under_kfp_local(
    kfp_local, trained_model, splits, preprocessor_dir
):
    from kfp import dsl
    from kfp.dsl import Dataset, Metrics, Model

    from kfp_mlops.components.optimization.distill_model.component import distill_model
    from kfp_mlops.components.optimization.prune_model.component import prune_model
    from kfp_mlops.components.optimization.quantize_model.component import quantize_model

    class Outputs(NamedTuple):
        student: Model
        metrics: Metrics
        blessed: bool
        quantized: Model

    @dsl.pipeline(name="distill-test")
    def distill_pipeline() -> Outputs:
        teacher = dsl.importer(artifact_uri=trained_model, artifact_class=Model)
        preprocessor = dsl.importer(artifact_uri=preprocessor_dir, artifact_class=Model)
        train = dsl.importer(artifact_uri=splits.train, artifact_class=Dataset)
        validation = dsl.importer(artifact_uri=splits.validation, artifact_class=Dataset)
        test = dsl.importer(artifact_uri=splits.test, artifact_class=Dataset)
        data = {"train": train.output, "validation": validation.output, "test": test.output}
        distilled = distill_model(
            model=teacher.output,
            preprocessor=preprocessor.output,
            **data,
            epochs=20,
            latency_runs=10,
        )
        pruned = prune_model(
            model=distilled.outputs["student_model"], **data, gate_mode="mark", latency_runs=10
        )
        quantized = quantize_model(
            model=pruned.outputs["pruned_model"], **data, gate_mode="mark", latency_runs=10
        )
        return Outputs(
            student=distilled.outputs["student_model"],
            metrics=distilled.outputs["metrics"],
            blessed=distilled.outputs["Output"],
            quantized=quantized.outputs["quantized_model"],
        )

    run = distill_pipeline()
    student, metrics = run.outputs["student"], run.outputs["metrics"].metadata
    assert run.outputs["blessed"] is True and student.metadata["blessed"] is True
    folder = Path(student.path)
    assert {"model.h5", "model_config.json", "optimization.json", "preprocessor.json"} <= {
        p.name for p in folder.iterdir()
    }
    # The preprocessor given is the one written beside the student.
    assert json.loads((folder / "preprocessor.json").read_text()) == json.loads(
        Path(preprocessor_dir).read_text()
    )
    assert metrics["student_params"] < metrics["teacher_params"]
    assert metrics["accuracy_change_pp"] >= -1.0
    assert student.metadata["student_hidden_units"] == [16, 8]
    quantized = Path(run.outputs["quantized"].path)
    assert (quantized / "model.tflite").stat().st_size > 0
    assert run.outputs["quantized"].metadata["mode"] == "int8"
