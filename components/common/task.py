"""The task: what is predicted, from which features, and how quality is judged.

One owner for the facts every step after the split must agree on (issue: one owner per
contract). ``split_and_preprocess`` writes the spec once, inside the preprocessor JSON that
travels to evaluation, registry, deployment, serving and monitoring; the processed splits
carry the label in the column :data:`LABEL`. Nothing downstream re-derives the number of
classes or the label name.

Only the standard library is imported: the trainer env (Horovod workers) reads it too.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from kfp_mlops.components.common.errors import ParameterError

#: The label column of every processed split (train, validation, test).
LABEL = "label"
TASK_TYPES = ("binary", "multiclass", "regression")
FEATURE_KINDS = ("tabular", "image")
#: Primary metric and whether higher is better, per task type (the gate and the champion
#: comparison read these).
PRIMARY_METRICS = {
    "binary": ("accuracy", True),
    "multiclass": ("accuracy", True),
    "regression": ("rmse", False),
}


@dataclass
class TaskSpec:
    """What a model predicts and how it is judged.

    Attributes:
        task_type: ``binary``, ``multiclass`` or ``regression``.
        target_column: Name of the target column in the raw data.
        classes: Class values as strings, index = encoded label (empty for regression).
        feature_kind: ``tabular`` or ``image``.
        feature_names: Names of the model's input vector (tabular).
        image_shape: ``[height, width, channels]`` (images).
        primary_metric: Metric that ranks models (``accuracy``, ``rmse``...).
        greater_is_better: Direction of the primary metric.
        target_mean: Regression: mean subtracted from the target before training.
        target_scale: Regression: scale the target was divided by (serving multiplies back).
        label: Label column of the processed splits (always :data:`LABEL`).
    """

    task_type: str
    target_column: str
    classes: list[str] = field(default_factory=list)
    feature_kind: str = "tabular"
    feature_names: list[str] = field(default_factory=list)
    image_shape: list[int] = field(default_factory=list)
    primary_metric: str = ""
    greater_is_better: bool = True
    target_mean: float = 0.0
    target_scale: float = 1.0
    label: str = LABEL

    def __post_init__(self) -> None:
        if self.task_type not in TASK_TYPES:
            raise ParameterError(
                f"task type '{self.task_type}' is not one of {TASK_TYPES}",
                "write the task spec with split_and_preprocess",
            )
        if self.feature_kind not in FEATURE_KINDS:
            raise ParameterError(
                f"feature kind '{self.feature_kind}' is not one of {FEATURE_KINDS}",
                "write the task spec with split_and_preprocess",
            )
        if self.is_classification and len(self.classes) < 2:
            raise ParameterError(
                f"a {self.task_type} task needs at least two classes, got {self.classes}",
                "check the target column",
            )
        if self.task_type == "binary" and len(self.classes) != 2:
            raise ParameterError(
                f"a binary task has exactly two classes, got {len(self.classes)}",
                "use task_type='multiclass'",
            )
        if self.target_scale <= 0:
            raise ParameterError(
                f"target_scale {self.target_scale} must be positive", "refit the preprocessor"
            )
        if not self.primary_metric:
            self.primary_metric, self.greater_is_better = PRIMARY_METRICS[self.task_type]

    @classmethod
    def for_classes(
        cls, target_column: str, classes: list[str], feature_names: list[str]
    ) -> TaskSpec:
        """A classification spec: binary for two classes, multiclass for more."""
        kind = "binary" if len(classes) == 2 else "multiclass"
        return cls(kind, target_column, list(classes), feature_names=list(feature_names))

    @property
    def is_classification(self) -> bool:
        """Binary or multiclass."""
        return self.task_type != "regression"

    @property
    def num_classes(self) -> int:
        """Number of classes (0 for regression)."""
        return len(self.classes) if self.is_classification else 0

    @property
    def output_width(self) -> int:
        """Units of the model's output layer: 1 (sigmoid or regression) or one per class."""
        return self.num_classes if self.task_type == "multiclass" else 1

    def encode_target(self, values: Any) -> Any:
        """Regression target in its units -> what the model is trained on."""
        return (values - self.target_mean) / self.target_scale

    def decode_target(self, values: Any) -> Any:
        """Model outputs -> the target in its units (undoes the standardisation)."""
        return values * self.target_scale + self.target_mean

    def better(self, a: float, b: float) -> bool:
        """Whether primary-metric value ``a`` is strictly better than ``b``."""
        return a > b if self.greater_is_better else a < b

    def to_json(self) -> dict[str, Any]:
        """JSON-serialisable form."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> TaskSpec:
        """Read :meth:`to_json` output; unknown keys are an error (a typo must not pass).

        Raises:
            ParameterError: On unknown keys or a missing task type.
        """
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown or "task_type" not in data or "target_column" not in data:
            raise ParameterError(
                f"not a task spec: unknown keys {unknown}"
                if unknown
                else "not a task spec: task_type and target_column are required",
                "write it with split_and_preprocess",
            )
        return cls(**data)

    def save(self, path: str | Path) -> None:
        """Write the spec as JSON."""
        Path(path).parent.mkdir(parents=True, exist_ok=True)
        Path(path).write_text(json.dumps(self.to_json(), indent=1), encoding="utf-8")

    @classmethod
    def load(cls, path: str | Path) -> TaskSpec:
        """The spec in a task JSON file, or inside a preprocessor JSON (its ``task`` key).

        Raises:
            ParameterError: If the file is missing or holds no task spec.
        """
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise ParameterError(
                f"cannot read the task spec '{path}': {exc}",
                "pass the preprocessor artifact of split_and_preprocess",
            ) from exc
        return task_of(data)


def task_of(data: dict[str, Any]) -> TaskSpec:
    """The task spec of a preprocessor's JSON (or of a bare task JSON).

    Preprocessors written before the spec existed hold only ``classes``: they were always
    classification, so the spec is derived from them.
    """
    if isinstance(data.get("task"), dict):
        return TaskSpec.from_json(data["task"])
    if "task_type" in data:
        return TaskSpec.from_json(data)
    if isinstance(data.get("classes"), list) and "target_column" in data:
        return TaskSpec.for_classes(
            data["target_column"], data["classes"], data.get("feature_names", [])
        )
    raise ParameterError(
        "the JSON holds no task spec", "pass the preprocessor artifact of split_and_preprocess"
    )
