"""The task, the student and the splits of a distillation run, checked before training.

The task spec comes from the preprocessor JSON when given, else from the teacher's
``model_config.json`` (train_model writes it there), else from the splits (float labels are
regression; the classes are the teacher's output units). The student is built with the
training library's ``model_fn`` contract (built-ins or the user's function), so a student
is whatever train_model could have trained.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import numpy as np

from kfp_mlops.components.common.artifacts import LABEL, read_split
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.common.model_dir import MODEL_CONFIG_FILE, PREPROCESSOR_FILE
from kfp_mlops.components.common.task import TaskSpec
from kfp_mlops.components.training import model_fn as model_fns
from kfp_mlops.components.training.model import ModelConfig, hidden_units_from

log = logging.getLogger(__name__)


def _float_labels(path: str) -> bool:
    import pyarrow as pa

    from kfp_mlops.components.common import shards

    try:
        schema = shards.file_schema(shards.read_manifest(path).files[0])
        return pa.types.is_floating(schema.field(LABEL).type)
    except Exception:  # unreadable: read_split names the problem later
        return False


def resolve_task(
    teacher: Any, teacher_dir: str, preprocessor_path: str | None, train_path: str
) -> TaskSpec:
    """The task spec, checked against the teacher's output width.

    Raises:
        ParameterError: When the spec and the teacher disagree.
    """
    if preprocessor_path:
        task = TaskSpec.load(preprocessor_path)
    elif (Path(teacher_dir) / MODEL_CONFIG_FILE).is_file() and "task" in json.loads(
        (Path(teacher_dir) / MODEL_CONFIG_FILE).read_text(encoding="utf-8")
    ):
        config = json.loads((Path(teacher_dir) / MODEL_CONFIG_FILE).read_text(encoding="utf-8"))
        task = TaskSpec.from_json(config["task"])
    elif (Path(teacher_dir) / PREPROCESSOR_FILE).is_file():
        task = TaskSpec.load(Path(teacher_dir) / PREPROCESSOR_FILE)
    else:
        width = int(teacher.outputs[0].shape[-1])
        if _float_labels(train_path):
            task = TaskSpec("regression", "target")
        else:
            classes = [str(i) for i in range(2 if width == 1 else width)]
            task = TaskSpec.for_classes("target", classes, [])
        log.info("no task spec given: %s task inferred from the splits", task.task_type)
    width = int(teacher.outputs[0].shape[-1])
    if width != task.output_width:
        raise ParameterError(
            f"the teacher has {width} output unit(s) but the {task.task_type} task needs "
            f"{task.output_width}",
            "pass the preprocessor of the split the teacher was trained on",
        )
    return task


def load_arrays(path: str, name: str, task: TaskSpec, teacher: Any) -> tuple[np.ndarray, Any]:
    """Features shaped as the teacher's input, and labels (int64 codes or float32 targets).

    Raises:
        SplitError: On a split that breaks the split contract.
        ParameterError: When its features do not fit the teacher's input.
    """
    regression = task.task_type == "regression"
    frame = read_split(path, name, regression=regression)
    names = [c for c in frame.columns if c != LABEL]
    if task.feature_kind == "tabular" and task.feature_names:
        missing = [c for c in task.feature_names if c not in frame.columns]
        if not missing:
            names = list(task.feature_names)
    x = frame[names].to_numpy(dtype="float32")
    if task.feature_kind == "image" and len(teacher.inputs[0].shape) == 4:
        x = x.reshape(-1, *task.image_shape)  # a teacher built before inputs were flat
    wanted = [int(d) for d in teacher.inputs[0].shape[1:]]
    if list(x.shape[1:]) != wanted:
        raise ParameterError(
            f"the {name} split's features have shape {list(x.shape[1:])} but the teacher's "
            f"input '{teacher.inputs[0].name}' expects {wanted}",
            "pass the splits the teacher was trained on (same split_and_preprocess output)",
        )
    y = frame[LABEL].to_numpy("float32" if regression else "int64")
    return x, y


def student_params(hidden_units: str, activation: str, dropout: float, l2: float) -> dict[str, Any]:
    """The student's ``params`` for its ``model_fn``, checked like train_model's.

    Raises:
        ParameterError: On bad hidden units, activation, dropout or l2.
    """
    config = ModelConfig(hidden_units_from(hidden_units), activation, float(dropout), float(l2))
    config.validate()
    return config.to_dict()


def build_student(spec: str, task: TaskSpec, params: dict[str, Any], num_features: int) -> Any:
    """The student, built with the training library's ``model_fn`` contract.

    Raises:
        ModelCodeError: Bad model code (named with the fix).
    """
    if not task.feature_names and task.feature_kind == "tabular":
        # builtin:mlp takes its input width from the spec's feature names.
        task = TaskSpec.from_json(
            {**task.to_json(), "feature_names": [f"x{i}" for i in range(num_features)]}
        )
    return model_fns.build(model_fns.resolve(spec), task, params, num_features)


def check_smaller(student: Any, teacher: Any, spec: str, params: dict[str, Any]) -> None:
    """A student with more parameters than its teacher defeats the purpose: refuse it.

    Raises:
        ParameterError: Naming both counts and the fix, before any training.
    """
    s, t = int(student.count_params()), int(teacher.count_params())
    if s > t:
        raise ParameterError(
            f"the student ({spec}, hidden_units={params.get('hidden_units')}) has {s} "
            f"parameters, more than the teacher's {t}",
            "give the student fewer units or filters (student_hidden_units, e.g. 16,8)",
        )
    if s == t:
        log.warning("the student has as many parameters (%d) as the teacher", s)
