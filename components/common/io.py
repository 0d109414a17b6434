"""Reading and writing tables from local paths and ``gs://`` URIs.

Only pandas, pyarrow and (lazily) google-cloud-storage are imported, so the trainer env
can use this module too.
"""

from __future__ import annotations

import io
import logging
import os
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_mlops.components.common.errors import DataLoadError, ParameterError

log = logging.getLogger(__name__)

FORMATS = ("auto", "csv", "parquet")


def split_gs_uri(uri: str) -> tuple[str, str]:
    """Split ``gs://bucket/path/to/object`` into bucket and object name.

    Raises:
        ParameterError: If the URI has no bucket or no object name.
    """
    rest = uri[len("gs://") :]
    bucket, _, name = rest.partition("/")
    if not bucket or not name:
        raise ParameterError(
            f"'{uri}' is not a gs:// object URI",
            "write it as gs://<bucket>/<path/to/file.csv>",
        )
    return bucket, name


def gcs_client(project: str | None = None) -> Any:
    """A google-cloud-storage client; anonymous when ``STORAGE_EMULATOR_HOST`` is set.

    In a cluster the credentials come from a Kubernetes Secret mounted by kfp-kubernetes
    (``GOOGLE_APPLICATION_CREDENTIALS``) or from Workload Identity.
    """
    from google.cloud import storage

    if os.environ.get("STORAGE_EMULATOR_HOST"):
        from google.auth.credentials import AnonymousCredentials

        return storage.Client(project=project or "local", credentials=AnonymousCredentials())
    key_file = os.environ.get("KFP_MLOPS_GCS_KEY_FILE", "")
    try:
        if key_file and Path(key_file).exists():
            # Mounted by kfp-kubernetes from the optional Secret (pipelines/k8s.py).
            return storage.Client.from_service_account_json(key_file, project=project)
        return storage.Client(project=project)
    except Exception as exc:  # google.auth.exceptions.DefaultCredentialsError and friends
        raise DataLoadError(
            f"cannot create a Google Cloud Storage client: {exc}",
            "mount a service-account key from a Kubernetes Secret (see README, 'Secrets') "
            "or set GOOGLE_APPLICATION_CREDENTIALS",
        ) from exc


def read_bytes(uri: str, client: Any = None) -> bytes:
    """Read a whole file from a local path or a ``gs://`` URI.

    Raises:
        DataLoadError: If the file, bucket or object does not exist or cannot be read.
    """
    if not uri.startswith("gs://"):
        path = Path(uri)
        if not path.exists():
            raise DataLoadError(
                f"'{uri}' does not exist", "check the path (it is read inside the pod)"
            )
        if path.is_dir():
            raise DataLoadError(f"'{uri}' is a directory", "give the path of a CSV or Parquet file")
        try:
            return path.read_bytes()
        except OSError as exc:
            raise DataLoadError(
                f"cannot read '{uri}': {exc}", "check the file's permissions"
            ) from exc

    from google.api_core import exceptions as gexc

    bucket_name, name = split_gs_uri(uri)
    client = client or gcs_client()
    try:
        bucket = client.bucket(bucket_name)
        if not bucket.exists():
            raise DataLoadError(
                f"bucket '{bucket_name}' of '{uri}' does not exist or is not visible",
                "check the bucket name and that the pod's service account can list it",
            )
        blob = bucket.blob(name)
        return blob.download_as_bytes()
    except gexc.NotFound as exc:
        raise DataLoadError(
            f"object '{name}' not found in bucket '{bucket_name}'",
            f"check the path with `gsutil ls gs://{bucket_name}/{name.rsplit('/', 1)[0]}`",
        ) from exc
    except gexc.Forbidden as exc:
        raise DataLoadError(
            f"access to '{uri}' was refused: {exc.message}",
            "grant the pod's service account storage.objects.get on the bucket",
        ) from exc
    except gexc.GoogleAPIError as exc:
        raise DataLoadError(f"cannot read '{uri}': {exc}", "check the URI and the network") from exc


def write_bytes(uri: str, data: bytes, client: Any = None) -> None:
    """Write bytes to a local path (parents created) or a ``gs://`` URI."""
    if uri.startswith("gs://"):
        bucket_name, name = split_gs_uri(uri)
        client = client or gcs_client()
        client.bucket(bucket_name).blob(name).upload_from_string(data)
        return
    path = Path(uri)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)


def holds(uri: str, data: bytes, client: Any = None) -> bool:
    """Whether ``uri`` already stores exactly ``data`` (``gs://``: by the object's MD5).

    Lets an upload of content-addressed files (a model version) skip what is there already.
    """
    import base64
    import hashlib

    if uri.startswith("gs://"):
        bucket_name, name = split_gs_uri(uri)
        client = client or gcs_client()
        blob = client.bucket(bucket_name).get_blob(name)
        if blob is None or blob.size != len(data) or not blob.md5_hash:
            return False
        return (
            blob.md5_hash
            == base64.b64encode(hashlib.md5(data, usedforsecurity=False).digest()).decode()
        )
    path = Path(uri)
    return path.is_file() and path.stat().st_size == len(data) and path.read_bytes() == data


def download_tree(uri: str, local_dir: str | Path, client: Any = None) -> list[str]:
    """Copy every object under the ``gs://`` prefix ``uri`` into ``local_dir``.

    Returns:
        The relative paths copied, sorted.

    Raises:
        DataLoadError: If nothing is stored under ``uri``.
    """
    bucket_name, prefix = split_gs_uri(uri)
    prefix = prefix.rstrip("/") + "/"
    client = client or gcs_client()
    copied = []
    for blob in client.list_blobs(bucket_name, prefix=prefix):
        rel = blob.name[len(prefix) :]
        if not rel or rel.endswith("/"):
            continue
        dest = Path(local_dir, rel)
        dest.parent.mkdir(parents=True, exist_ok=True)
        blob.download_to_filename(str(dest))
        copied.append(rel)
    if not copied:
        raise DataLoadError(
            f"nothing is stored under '{uri}'",
            "check the job's logs: it should have written its outputs there",
        )
    return sorted(copied)


def infer_format(uri: str, file_format: str = "auto") -> str:
    """Return ``csv`` or ``parquet`` for a URI, from ``file_format`` or the file suffix."""
    if file_format not in FORMATS:
        raise ParameterError(
            f"file_format '{file_format}' is not supported", f"use one of {FORMATS}"
        )
    if file_format != "auto":
        return file_format
    lower = uri.lower()
    if lower.endswith((".parquet", ".pq")):
        return "parquet"
    if lower.endswith((".csv", ".csv.gz", ".txt")):
        return "csv"
    raise ParameterError(
        f"cannot tell the format of '{uri}' from its name",
        "name the file *.csv or *.parquet, or set file_format='csv' or 'parquet'",
    )


def read_table(uri: str, file_format: str = "auto", client: Any = None) -> pd.DataFrame:
    """Read a CSV or Parquet table from a local path or ``gs://`` URI.

    Raises:
        DataLoadError: If the file is missing, empty, has no rows or cannot be parsed.
    """
    fmt = infer_format(uri, file_format)
    raw = read_bytes(uri, client=client)
    if not raw.strip():
        raise DataLoadError(
            f"'{uri}' is empty", "point the component at a file with a header and rows"
        )
    try:
        if fmt == "parquet":
            df = pd.read_parquet(io.BytesIO(raw))
        else:
            df = pd.read_csv(io.BytesIO(raw), compression="gzip" if uri.endswith(".gz") else None)
    except pd.errors.EmptyDataError as exc:
        raise DataLoadError(
            f"'{uri}' has no columns", "check that it is a CSV with a header"
        ) from exc
    except Exception as exc:
        raise DataLoadError(
            f"cannot parse '{uri}' as {fmt}: {exc}",
            "check the file, or set file_format to its real format",
        ) from exc
    if len(df) == 0:
        raise DataLoadError(f"'{uri}' has a header but no rows", "check the export that wrote it")
    log.info("read %s: %d rows x %d columns", uri, len(df), df.shape[1])
    return df


def save_dataset(df: pd.DataFrame, path: str) -> None:
    """Write a Dataset artifact as Parquet (types survive, unlike CSV)."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    df.to_parquet(path, index=False)


def load_dataset_artifact(path: str) -> pd.DataFrame:
    """Read a Dataset artifact (a Parquet file or a sharded directory) into memory.

    Streaming steps read big datasets with :func:`kfp_mlops.components.common.shards.iter_batches`
    instead.
    """
    from kfp_mlops.components.common import shards

    if not Path(path).exists():
        raise DataLoadError(
            f"dataset artifact '{path}' does not exist", "check the upstream task's output"
        )
    if Path(path).is_dir():
        return shards.read_table(path)
    return pd.read_parquet(path)


def is_many(source: str) -> bool:
    """True for a source naming many files: a glob, a directory or a ``gs://`` prefix."""
    import glob as globlib

    if source.startswith("gs://"):
        return source.endswith("/") or globlib.has_magic(source)
    return globlib.has_magic(source) or Path(source).is_dir()


def download_matching(uri: str, local_dir: str | Path, client: Any = None) -> list[str]:
    """Copy the objects a ``gs://`` prefix (``gs://b/dir/``) or glob (``gs://b/d/*.csv``) names.

    Objects go to local disk one at a time (never into memory), so they can be streamed.

    Returns:
        The local files, in object-name order.

    Raises:
        DataLoadError: If the bucket is missing or nothing matches.
    """
    import fnmatch
    import glob as globlib

    rest = uri[len("gs://") :]
    bucket_name, _, pattern = rest.partition("/")
    prefix = pattern.split("*", 1)[0].split("?", 1)[0].split("[", 1)[0]
    client = client or gcs_client()
    bucket = client.bucket(bucket_name)
    if not bucket.exists():
        raise DataLoadError(
            f"bucket '{bucket_name}' of '{uri}' does not exist or is not visible",
            "check the bucket name and that the pod's service account can list it",
        )
    files = []
    for blob in sorted(client.list_blobs(bucket_name, prefix=prefix), key=lambda b: b.name):
        name = blob.name
        if name.endswith("/") or Path(name).name.startswith(("_", ".")):
            continue
        if globlib.has_magic(pattern) and not fnmatch.fnmatchcase(name, pattern):
            continue
        dest = Path(local_dir, f"{len(files):05d}-{Path(name).name}")
        blob.download_to_filename(str(dest))
        files.append(str(dest))
    if not files:
        raise DataLoadError(
            f"no objects match '{uri}'",
            f"check the prefix with `gsutil ls {uri}` (a prefix ends with '/')",
        )
    log.info("downloaded %d objects of %s", len(files), uri)
    return files
