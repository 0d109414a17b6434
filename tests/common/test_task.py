import json

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.task import LABEL, TaskSpec, task_of


def test_classification_spec_from_classes():
    binary = TaskSpec.for_classes("target", ["a", "b"], ["x"])
    assert (binary.task_type, binary.num_classes, binary.output_width) == ("binary", 2, 1)
    multi = TaskSpec.for_classes("target", ["a", "b", "c"], ["x"])
    assert (multi.task_type, multi.num_classes, multi.output_width) == ("multiclass", 3, 3)
    assert binary.primary_metric == "accuracy" and binary.greater_is_better
    assert binary.label == LABEL == "label"


def test_regression_spec_ranks_lower_rmse_first():
    spec = TaskSpec("regression", "y")
    assert (spec.num_classes, spec.output_width, spec.primary_metric) == (0, 1, "rmse")
    assert spec.better(0.5, 0.7) and not spec.better(0.7, 0.5)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"task_type": "ranking", "target_column": "y"}, "task type 'ranking'"),
        ({"task_type": "binary", "target_column": "y", "classes": ["a"]}, "two classes"),
        ({"task_type": "binary", "target_column": "y", "classes": ["a", "b", "c"]}, "exactly two"),
        ({"task_type": "regression", "target_column": "y", "feature_kind": "audio"}, "audio"),
    ],
)
def test_bad_specs_name_the_problem(kwargs, match):
    with pytest.raises(ParameterError, match=match):
        TaskSpec(**kwargs)


def test_round_trip_and_unknown_keys(tmp_path):
    spec = TaskSpec("multiclass", "species", ["a", "b", "c"], feature_names=["x", "y"])
    spec.save(tmp_path / "task.json")
    assert TaskSpec.load(tmp_path / "task.json") == spec
    with pytest.raises(ParameterError, match="unknown keys \\['clases'\\]"):
        TaskSpec.from_json({**spec.to_json(), "clases": []})


def test_spec_inside_a_preprocessor_json_and_legacy_files(tmp_path):
    spec = TaskSpec.for_classes("target", ["0", "1"], ["f"])
    path = tmp_path / "pre.json"
    path.write_text(json.dumps({"classes": ["0", "1"], "task": spec.to_json()}))
    assert TaskSpec.load(path) == spec
    # A preprocessor written before the spec existed: classification, derived from classes.
    legacy = task_of({"target_column": "t", "classes": ["x", "y", "z"], "feature_names": []})
    assert legacy.task_type == "multiclass" and legacy.classes == ["x", "y", "z"]
    with pytest.raises(ParameterError, match="no task spec"):
        task_of({"something": 1})
