"""``data_validation_pipeline``: load -> validate -> drift vs reference -> split."""

from kfp import dsl

from kfp_mlops.components.data.detect_drift.component import detect_drift
from kfp_mlops.components.data.load_dataset.component import load_dataset
from kfp_mlops.components.data.split_and_preprocess.component import split_and_preprocess
from kfp_mlops.components.data.validate_data.component import validate_data
from kfp_mlops.pipelines.k8s import resources, with_credentials


def load_current_and_reference(source: str, reference_source: str, target_column: str) -> tuple:
    """Load tasks for the data to use and the reference it is checked against."""
    current = with_credentials(load_dataset(source=source, target_column=target_column))
    current.set_display_name("load current data")
    reference = with_credentials(load_dataset(source=reference_source, target_column=target_column))
    reference.set_display_name("load reference data")
    return current, reference


def validated_splits(
    current: dsl.PipelineTask,
    reference: dsl.PipelineTask,
    target_column: str,
    drift_threshold: float,
    on_validation_failure: str,
    seed: int,
    validation_margin: float = 0.1,
) -> dict:
    """The shared head of every pipeline: validate, drift, split.

    Validation must pass before the split runs, so bad data stops the pipeline before any
    training or deployment. Drift is reported, not blocking (the retraining pipeline is
    what acts on it).

    Args:
        current: load_dataset task of the data to validate and split.
        reference: load_dataset task of the reference data.
        target_column: Label column.
        drift_threshold: PSI above which a feature counts as drifted.
        on_validation_failure: fail or warn.
        seed: Split seed.
        validation_margin: Range margin of the derived suite, as a share of the reference
            range (retraining widens it: drifted data is expected there).

    Returns:
        The tasks by name: ``current``, ``reference``, ``validate``, ``drift``, ``split``.
    """
    validate = validate_data(
        dataset=current.outputs["dataset"],
        reference=reference.outputs["dataset"],
        target_column=target_column,
        margin=validation_margin,
        on_failure=on_validation_failure,
    )
    drift = detect_drift(
        reference=reference.outputs["dataset"],
        current=current.outputs["dataset"],
        threshold=drift_threshold,
        target_column=target_column,
    )
    drift.after(validate)
    split = resources(
        split_and_preprocess(
            dataset=current.outputs["dataset"], target_column=target_column, seed=seed
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
    description="Load a table, validate it with Great Expectations against a reference, "
    "measure drift (KS / PSI) and make stratified, preprocessed train/validation/test splits.",
)
def data_validation_pipeline(
    source: str = "builtin:breast_cancer",
    reference_source: str = "builtin:breast_cancer",
    target_column: str = "target",
    drift_threshold: float = 0.1,
    on_validation_failure: str = "fail",
    seed: int = 42,
) -> None:
    """Load -> validate -> drift vs reference -> split.

    Args:
        source: Data to validate: builtin:<name>, a path or gs://bucket/object.
        reference_source: Reference data the expectation suite and drift baseline come from.
        target_column: Label column.
        drift_threshold: PSI above which a feature counts as drifted (runbook: 0.1).
        on_validation_failure: fail (stop the pipeline) or warn (report only).
        seed: Split seed.
    """
    current, reference = load_current_and_reference(source, reference_source, target_column)
    validated_splits(
        current, reference, target_column, drift_threshold, on_validation_failure, seed
    )
