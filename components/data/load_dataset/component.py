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
    output: str = "auto",
    rows_per_shard: int = 1000000,
) -> int:
    """Load a CSV or Parquet table (or many files) into a Dataset artifact (Parquet).

    Args:
        dataset: The loaded table: one Parquet file, or a directory of Parquet shards with
            a _dataset.json manifest; metadata holds rows, columns, classes, shards, schema.
        source: builtin:breast_cancer | builtin:digits | builtin:iris | builtin:wine |
            builtin:diabetes (regression) | builtin:digits_images (8x8 PNGs) (bundled, no
            network), an image folder (<root>/<class>/<file>.png|.jpg, local or a gs://
            prefix: a table of file, image bytes and class), a path inside the pod, a
            glob (data/*.parquet), a directory, gs://bucket/object.csv|.parquet, or a
            gs:// prefix (gs://bucket/dir/) or glob holding many files (credentials from a
            Kubernetes Secret or Workload Identity).
        file_format: auto (from the file suffix, or images for a folder of class
            subfolders), csv, parquet or images.
        target_column: The label column; it must exist and have no missing values.
        output: auto (shards for many files or one file over 256 MB, streamed without
            holding the table), file or shards.
        rows_per_shard: Rows per Parquet shard when sharding.

    Returns:
        The number of rows loaded.
    """
    from kfp_mlops.components.data.load_dataset.core import load_to

    summary = load_to(
        source,
        dataset.path,
        file_format=file_format,
        target_column=target_column,
        output=output,
        rows_per_shard=rows_per_shard,
    )
    dataset.metadata.update(
        {"source": source, "target_column": target_column, **summary.metadata()}
    )
    return summary.rows
