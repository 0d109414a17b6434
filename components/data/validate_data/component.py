"""KFP wrapper of :mod:`kfp_mlops.components.data.validate_data.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def validate_data(
    dataset: Input[Dataset],
    report: Output[HTML],
    metrics: Output[Metrics],
    validation_result: Output[Artifact],
    reference: Input[Dataset] = None,
    suite: Input[Artifact] = None,
    suite_json: str = "",
    target_column: str = "target",
    margin: float = 0.1,
    on_failure: str = "fail",
    min_class_fraction: float = 0.0,
) -> bool:
    """Validate a dataset with Great Expectations; every failure is explained with its fix.

    A raw image Dataset (file, image bytes, target) is validated on one row of facts per
    file: every file decodes, has the reference's height/width/channels and a known class,
    classes are balanced; the report and the failure name the corrupt or odd files. A suite
    for images names the facts columns: file, decodes, height, width, channels, mean,
    error, the target and class_share.

    Args:
        dataset: The table to validate (Parquet Dataset artifact: one file or shards).
            Sharded or large (over 1M rows) tables are validated batch by batch with
            bounded memory: the same suite, counts, examples and report.
        report: HTML report: summary, failures with fixes, every expectation's result.
        metrics: success_percent, failed_expectations, evaluated_expectations, and
            suite_from_data (1 when neither a suite nor a reference was given).
        validation_result: JSON: summary, failures, the suite used and the raw GX result.
        reference: A table to derive the suite from (e.g. the training data), used when no
            suite is given: exact columns, non-null, numeric ranges widened by margin, value sets.
            With neither, the suite is derived from the dataset itself, which checks only
            that it is usable on its own (the report and suite_from_data say so). A suite or
            reference sharing no column with the dataset fails the task in one line.
        suite: A GX 1.x ExpectationSuite JSON file; takes precedence over suite_json.
        suite_json: The suite as a JSON string; takes precedence over reference.
        target_column: The label column (reference only: it gets a value-set check).
        margin: Slack for derived ranges and non-null rates, as a fraction (reference only).
        on_failure: fail (the task fails, naming each problem) or warn (only report).
        min_class_fraction: Image datasets only: the least share of the files each class
            must hold; 0 derives it as half the reference's smallest class share.

    Returns:
        Whether every expectation passed.
    """
    import json

    from kfp_mlops.components.data.validate_data import core

    result = core.validate_dataset(
        dataset.path,
        reference_path=reference.path if reference is not None else None,
        suite_path=suite.path if suite is not None else None,
        suite_json=suite_json,
        target_column=target_column,
        margin=margin,
        min_class_fraction=min_class_fraction,
    )
    result.write_html(report.path)
    with open(validation_result.path, "w", encoding="utf-8") as f:
        json.dump(result.to_json(), f, indent=1, default=str)
    metrics.log_metric("success_percent", result.success_percent)
    metrics.log_metric("failed_expectations", result.failed_expectations)
    metrics.log_metric("evaluated_expectations", result.evaluated)
    metrics.log_metric("suite_from_data", float(result.suite_from_data))
    return core.enforce(result, on_failure)
