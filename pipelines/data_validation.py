"""``data_validation_pipeline``: load -> validate -> drift vs reference -> split.

The shared stages :func:`load_current_and_reference` and :func:`validated_splits` open the
training, monitoring and retraining pipelines too.
"""

from kfp import dsl

from kfp_mlops.components.data.detect_drift.component import detect_drift
from kfp_mlops.components.data.load_dataset.component import load_dataset
from kfp_mlops.components.data.split_and_preprocess.component import split_and_preprocess
from kfp_mlops.components.data.validate_data.component import validate_data
from kfp_mlops.pipelines.k8s import resources, with_credentials


def _load(source: str, target_column: str, display_name: str) -> dsl.PipelineTask:
    task = with_credentials(load_dataset(source=source, target_column=target_column))
    task.set_display_name(display_name)
    return task


def load_current_and_reference(source: str, reference_source: str, target_column: str) -> tuple:
    """Load tasks for the data to use and the reference it is checked against.

    ``reference_source`` given as an empty Python string (not a pipeline parameter) means no
    reference: the second task is then ``None``, which :func:`validated_splits` accepts.
    """
    current = _load(source, target_column, "load current data")
    if isinstance(reference_source, str) and not reference_source:
        return current, None
    return current, _load(reference_source, target_column, "load reference data")


def validated_splits(
    current: dsl.PipelineTask,
    reference: dsl.PipelineTask | None,
    target_column: str,
    drift_threshold: float,
    on_validation_failure: str,
    seed: int,
    validation_margin: float = 0.1,
    measure_drift: bool = True,
    task_type: str = "auto",
) -> dict:
    """The shared head of every pipeline: validate, drift, split.

    Validation must pass before the split runs, so bad data stops the pipeline before any
    training or deployment. Drift is reported, not blocking (the retraining pipeline is
    what acts on it).

    Args:
        current: load_dataset task of the data to validate and split.
        reference: load_dataset task of the reference data, or ``None``: the suite is then
            derived from the data itself (validate_data says so) and there is no drift step,
            since drift needs a baseline.
        target_column: Label column.
        drift_threshold: PSI above which a feature counts as drifted.
        on_validation_failure: fail or warn.
        seed: Split seed.
        validation_margin: Range margin of the derived suite, as a share of the reference
            range (retraining widens it: drifted data is expected there).
        measure_drift: Add the drift step (retraining passes False: monitoring has just
            measured drift on the same two tables).
        task_type: auto | binary | multiclass | regression, for the split's task spec.

    Returns:
        The tasks by name: ``current``, ``reference``, ``validate``, ``drift``, ``split``
        (``reference`` and ``drift`` are ``None`` without a reference, ``drift`` also when
        not measured).
    """
    checks = {} if reference is None else {"reference": reference.outputs["dataset"]}
    validate = validate_data(
        dataset=current.outputs["dataset"],
        target_column=target_column,
        margin=validation_margin,
        on_failure=on_validation_failure,
        **checks,
    )
    drift = None
    if reference is not None and measure_drift:
        drift = detect_drift(
            reference=reference.outputs["dataset"],
            current=current.outputs["dataset"],
            threshold=drift_threshold,
            target_column=target_column,
        )
        drift.after(validate)
    split = resources(
        split_and_preprocess(
            dataset=current.outputs["dataset"],
            target_column=target_column,
            seed=seed,
            task_type=task_type,
        ),
        cpu="1",
        memory="2Gi",
    )
    split.after(validate)
    return {
        "current": current,
        "reference": reference,
        "validate": validate,
        "drift": drift,
        "split": split,
    }


@dsl.pipeline(
    name="data-validation-pipeline",
    description="Load a table, validate it with Great Expectations (against a reference, or "
    "on its own when none is given), measure drift vs the reference (KS / PSI) and make "
    "stratified, preprocessed train/validation/test splits.",
)
def data_validation_pipeline(
    source: str = "builtin:breast_cancer",
    reference_source: str = "",
    target_column: str = "target",
    drift_threshold: float = 0.1,
    on_validation_failure: str = "fail",
    seed: int = 42,
) -> None:
    """Load -> validate -> drift vs reference -> split.

    With no ``reference_source`` (the default) the run takes the ``no-reference`` branch:
    the suite is derived from the data itself (the validation report, its log and the
    ``suite_from_data`` metric say so) and drift is skipped: a table compared with itself
    or a resample of itself never drifts, so such a step could only mislead.

    Args:
        source: Data to validate: builtin:<name>, a path or gs://bucket/object.
        reference_source: Reference data the expectation suite and drift baseline come from
            (e.g. the training data); empty: validate the data on its own, no drift step.
        target_column: Label column.
        drift_threshold: PSI above which a feature counts as drifted (runbook: 0.1).
        on_validation_failure: fail (stop the pipeline) or warn (report only).
        seed: Split seed.
    """
    current = _load(source, target_column, "load current data")
    head = (target_column, drift_threshold, on_validation_failure, seed)
    with dsl.If(reference_source == "", name="no-reference"):
        validated_splits(current, None, *head)
    with dsl.Else(name="against-reference"):
        reference = _load(reference_source, target_column, "load reference data")
        validated_splits(current, reference, *head)
