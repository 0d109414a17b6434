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
) -> int:
    """Stratified train/validation/test split; scaling and one-hot fit on train only.

    Args:
        dataset: Raw table (Parquet) from load_dataset.
        train: Training split: float32 features and an int64 `label` column.
        validation: Validation split, same columns.
        test: Test split, same columns.
        preprocessor: The fitted preprocessor as JSON (means, scales, categories, class
            names); the model server applies it to raw requests.
        metrics: Row counts per split, number of features and classes.
        target_column: The label column of the raw table.
        validation_fraction: Share of rows for validation, in (0, 1).
        test_fraction: Share of rows for test, in (0, 1).
        seed: Random seed of the split.

    Returns:
        The number of classes.
    """
    from kfp_mlops.components.common.io import load_dataset_artifact, save_dataset
    from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess as split

    result = split(
        load_dataset_artifact(dataset.path),
        target_column=target_column,
        validation_fraction=validation_fraction,
        test_fraction=test_fraction,
        seed=seed,
    )
    summary = result.summary()
    for artifact, frame in (
        (train, result.train),
        (validation, result.validation),
        (test, result.test),
    ):
        save_dataset(frame, artifact.path)
        artifact.metadata.update(
            {
                "rows": len(frame),
                "num_features": summary["num_features"],
                "num_classes": summary["num_classes"],
            }
        )
    result.preprocessor.save(preprocessor.path)
    preprocessor.metadata.update({"format": "json", "classes": result.preprocessor.classes})
    for key, value in summary.items():
        metrics.log_metric(key, value)
    return summary["num_classes"]
