"""KFP wrapper of :mod:`kfp_mlops.components.data.split_and_preprocess.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def split_and_preprocess(
    dataset: Input[Dataset],
    train: Output[Dataset],
    validation: Output[Dataset],
    test: Output[Dataset],
    preprocessor: Output[Model],
    metrics: Output[Metrics],
    target_column: str = "target",
    validation_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 42,
    task_type: str = "auto",
    impute: bool = True,
    missing_indicator: bool = False,
    standardize_target: bool = True,
    shard_above_rows: int = 1000000,
    rows_per_shard: int = 1000000,
) -> int:
    """Train/validation/test split; imputation, scaling and one-hot fit on train only.

    Args:
        dataset: Raw table (Parquet file or shards) from load_dataset.
        train: Training split: float32 features and an int64 `label` column (a directory
            of Parquet shards when the input is sharded or large).
        validation: Validation split, same columns.
        test: Test split, same columns.
        preprocessor: The fitted preprocessor as JSON (fill values, means, scales,
            categories, class names) with the task spec every later step reads; the model
            server applies it to raw requests.
        metrics: Row counts per split, features, classes, dropped rows, imputed values.
        target_column: The label column of the raw table.
        validation_fraction: Share of rows for validation, in (0, 1).
        test_fraction: Share of rows for test, in (0, 1).
        seed: Random seed of the split.
        task_type: auto (labels -> binary/multiclass, a continuous number -> regression),
            binary, multiclass or regression. Classification splits are stratified on the
            label, regression splits on quantile bins of the target.
        impute: Fill gaps with the training median (numbers) or most frequent category;
            off: a gap stops the split naming its columns.
        missing_indicator: Also add a <column>__missing feature for each column with gaps.
        standardize_target: Regression: train on the standardised target (mean 0, sd 1;
            undone when evaluating and serving). On by default: raw targets in the hundreds
            train poorly with the default learning rate.
        shard_above_rows: A sharded input, or a single file with more rows than this
            (0: never by size), is split in a streaming pass with bounded memory: rows go
            to the splits by a seeded hash of their row number (not stratified), the
            statistics are computed batch by batch, the splits are written as shards.
        rows_per_shard: Rows per output shard when streaming.

    Returns:
        The number of classes (0 for regression).
    """
    from kfp_mlops.components.common.kfp_outputs import log_finite
    from kfp_mlops.components.data.split_and_preprocess.core import split_to

    summary, proc, rows = split_to(
        dataset.path,
        {"train": train.path, "validation": validation.path, "test": test.path},
        shard_above_rows=shard_above_rows,
        rows_per_shard=rows_per_shard,
        target_column=target_column,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
        task_type=task_type,
        impute=impute,
        missing_indicator=missing_indicator,
        standardize_target=standardize_target,
    )
    task = proc.task_spec
    for name, artifact in (("train", train), ("validation", validation), ("test", test)):
        artifact.metadata.update(
            {
                "rows": rows[name],
                "num_features": summary["num_features"],
                "num_classes": summary["num_classes"],
                "task_type": task.task_type,
            }
        )
    proc.save(preprocessor.path)
    preprocessor.metadata.update(
        {"format": "json", "classes": proc.classes, "task_type": task.task_type}
    )
    log_finite(metrics, summary)
    return summary["num_classes"]
