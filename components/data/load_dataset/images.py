"""Image folders -> a raw image Dataset (``file``, ``image`` bytes, target), see :mod:`.images`.

The layout is the one Keras' ``image_dataset_from_directory`` and torchvision's
``ImageFolder`` read: one subfolder per class, PNG or JPEG files inside::

    <root>/cat/0001.png
    <root>/dog/0002.jpg

from a local path or a ``gs://bucket/prefix/``. Files are kept encoded (as read), so
validation can name a corrupt one; nothing is decoded here. ``builtin:digits_images`` is
scikit-learn's digits (bundled, no network) as 8x8 grayscale PNGs in that layout.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataLoadError
from kfp_mlops.components.common.images import (
    FILE_COLUMN,
    IMAGE_COLUMN,
    encode_png,
    is_image_file,
)

log = logging.getLogger(__name__)
IMAGE_BUILTINS = ("digits_images",)


def is_image_folder(source: str, client: Any = None) -> bool:
    """Whether ``source`` is a folder of class subfolders holding image files.

    A local directory qualifies when one of its first entries is a subfolder with an image
    file in it; a ``gs://`` prefix when the first objects under it are ``<class>/<image>``.
    """
    if source.startswith("gs://"):
        if not source.endswith("/"):
            return False
        from kfp_mlops.components.common.io import gcs_client, split_gs_uri

        bucket, prefix = split_gs_uri(source.rstrip("/") + "/x")
        prefix = prefix[:-1]
        from google.api_core.exceptions import GoogleAPIError

        client = client or gcs_client()
        try:
            for blob in client.list_blobs(bucket, prefix=prefix, max_results=20):
                rel = PurePosixPath(blob.name[len(prefix) :])
                if len(rel.parts) == 2 and is_image_file(rel.name):
                    return True
        except GoogleAPIError:  # a missing bucket, no access: the table loader names it
            return False
        return False
    root = Path(source)
    if not root.is_dir():
        return False
    for sub in sorted(root.iterdir())[:50]:
        if sub.is_dir() and any(is_image_file(p.name) for p in sub.iterdir()):
            return True
    return False


def _frame(records: list[tuple[str, bytes]], target_column: str, source: str) -> pd.DataFrame:
    if not records:
        raise DataLoadError(
            f"no PNG or JPEG files in class subfolders of '{source}'",
            "lay the folder out as <root>/<class>/<image>.png",
        )
    records.sort(key=lambda r: r[0])
    frame = pd.DataFrame(
        {
            FILE_COLUMN: [r[0] for r in records],
            IMAGE_COLUMN: [r[1] for r in records],
            target_column: [PurePosixPath(r[0]).parts[0] for r in records],
        }
    )
    if frame[target_column].nunique() < 2:
        raise DataLoadError(
            f"'{source}' has one class subfolder ({frame[target_column].iloc[0]})",
            "an image classifier needs at least two class subfolders",
        )
    log.info(
        "read %d images in %d classes from %s", len(frame), frame[target_column].nunique(), source
    )
    return frame


def read_folder(source: str, target_column: str = "target", client: Any = None) -> pd.DataFrame:
    """Read every image file two levels under ``source`` (local or ``gs://``).

    Files directly under the root, deeper files and other suffixes are skipped (and counted
    in the log): the class is the first folder level.

    Raises:
        DataLoadError: If no class subfolder holds an image, or there is only one class.
    """
    records: list[tuple[str, bytes]] = []
    skipped = 0
    if source.startswith("gs://"):
        from kfp_mlops.components.common.io import gcs_client, split_gs_uri

        bucket, prefix = split_gs_uri(source.rstrip("/") + "/x")
        prefix = prefix[:-1]
        client = client or gcs_client()
        for blob in client.list_blobs(bucket, prefix=prefix):
            rel = PurePosixPath(blob.name[len(prefix) :])
            if len(rel.parts) == 2 and is_image_file(rel.name):
                records.append((str(rel), blob.download_as_bytes()))
            elif not blob.name.endswith("/"):
                skipped += 1
    else:
        root = Path(source)
        for path in sorted(root.rglob("*")):
            if not path.is_file():
                continue
            rel = path.relative_to(root)
            if len(rel.parts) == 2 and is_image_file(path.name):
                records.append((rel.as_posix(), path.read_bytes()))
            else:
                skipped += 1
    if skipped:
        log.info("skipped %d files that are not <class>/<image> under %s", skipped, source)
    return _frame(records, target_column, source)


def digits_images(target_column: str = "target") -> pd.DataFrame:
    """scikit-learn's 1,797 digits as 8x8 grayscale PNGs (``<digit>/digit_<n>.png``)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    # Digits' pixels are 0..16; stretch them to the 0..255 range real images have.
    pixels = np.clip(np.rint(bunch.images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    records = [
        (f"{int(t)}/digit_{i:05d}.png", encode_png(img))
        for i, (img, t) in enumerate(zip(pixels, bunch.target, strict=True))
    ]
    return _frame(records, target_column, "builtin:digits_images")


def write_folder(frame: pd.DataFrame, root: str | Path) -> list[Path]:
    """Write a raw image Dataset back out as an image folder (tests and examples use it)."""
    written = []
    for name, data in zip(frame[FILE_COLUMN], frame[IMAGE_COLUMN], strict=True):
        path = Path(root, name)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(bytes(data))
        written.append(path)
    return written
