"""KFP wrapper of :mod:`kfp_mlops.components.data.load_dataset.core`."""

from kfp import dsl
from kfp.dsl import Dataset, Output

from kfp_mlops.components.common.versions import PIPELINE_IMAGE


@dsl.component(base_image=PIPELINE_IMAGE, install_kfp_package=False)
def load_dataset(
    dataset: Output[Dataset],
    source: str = "builtin:breast_cancer",
    file_format: str = "auto",
    target_column: str = "target",
) -> int:
    """Load a CSV or Parquet table into a Dataset artifact (Parquet).

    Args:
        dataset: The loaded table, as Parquet; metadata holds rows, columns and classes.
        source: builtin:breast_cancer | builtin:digits | builtin:iris | builtin:wine |
            builtin:diabetes (regression) (bundled, no network), a path inside the pod, or gs://bucket/object.csv|.parquet
            (credentials from a Kubernetes Secret or Workload Identity).
        file_format: auto (from the file suffix), csv or parquet.
        target_column: The label column; it must exist and have no missing values.

    Returns:
        The number of rows loaded.
    """
    from kfp_mlops.components.common.io import save_dataset
    from kfp_mlops.components.data.load_dataset.core import load

    result = load(source, file_format=file_format, target_column=target_column)
    save_dataset(result.frame, dataset.path)
    dataset.metadata.update(
        {
            "source": source,
            "format": "parquet",
            "rows": len(result.frame),
            "columns": int(result.frame.shape[1]),
            "target_column": target_column,
            "num_classes": result.num_classes,
        }
    )
    return len(result.frame)
