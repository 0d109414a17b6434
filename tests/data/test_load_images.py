"""Image folders and builtin:digits_images -> raw image Datasets; the preprocessor for images.

Real PNG/JPEG files through Pillow, a real GCS emulator for ``gs://`` prefixes.
"""

import base64

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import images
from kfp_mlops.components.common.errors import DataLoadError, DataValidationError
from kfp_mlops.components.data.load_dataset.core import load, load_to
from kfp_mlops.components.data.load_dataset.images import (
    digits_images,
    is_image_folder,
    read_folder,
    write_folder,
)
from kfp_mlops.components.data.split_and_preprocess.core import split_and_preprocess
from kfp_mlops.components.data.split_and_preprocess.preprocessor import Preprocessor


@pytest.fixture(scope="module")
def digits() -> pd.DataFrame:
    return digits_images()


def test_digits_images_are_the_bundled_digits_as_8x8_grayscale_pngs(digits):
    from sklearn.datasets import load_digits

    assert list(digits.columns) == ["file", "image", "target"] and len(digits) == 1797
    assert digits["file"].iloc[0] == "0/digit_00000.png" and digits["target"].nunique() == 10
    first = images.decode(digits["image"].iloc[0])
    assert first.shape == (8, 8, 1) and first.dtype == np.uint8
    # The pixels are scikit-learn's (0..16) stretched to 0..255, losslessly.
    expected = np.rint(load_digits().images[0] * 255 / 16)
    np.testing.assert_array_equal(first[..., 0], expected)
    assert images.is_image_frame(digits) and not images.is_image_frame(digits[["target"]])


def test_a_folder_of_class_subfolders_loads_with_the_classes_from_the_names(digits, tmp_path):
    subset = digits.groupby("target").head(3)
    write_folder(subset, tmp_path / "imgs")
    # A JPEG in RGB beside the PNGs, a stray file at the root and one deeper are skipped.
    from PIL import Image

    Image.new("RGB", (8, 8), (200, 10, 10)).save(tmp_path / "imgs" / "3" / "red.jpg")
    (tmp_path / "imgs" / "README.txt").write_text("not an image")
    (tmp_path / "imgs" / "3" / "deep").mkdir()
    (tmp_path / "imgs" / "3" / "deep" / "x.png").write_bytes(subset["image"].iloc[0])
    assert is_image_folder(str(tmp_path / "imgs")) and not is_image_folder(str(tmp_path))
    frame = read_folder(str(tmp_path / "imgs"))
    assert len(frame) == len(subset) + 1 and set(frame["target"]) == set(subset["target"])
    assert images.decode(frame.set_index("file").loc["3/red.jpg", "image"]).shape == (8, 8, 3)
    # load() and load_to() detect the folder; the Dataset keeps the encoded bytes.
    assert load(str(tmp_path / "imgs")).num_classes == 10
    summary = load_to(str(tmp_path / "imgs"), str(tmp_path / "out.parquet"))
    assert summary.rows == len(frame)
    stored = pd.read_parquet(tmp_path / "out.parquet")
    assert bytes(stored["image"].iloc[0]) == bytes(frame["image"].iloc[0])


def test_folders_that_cannot_train_are_refused_with_the_layout(tmp_path):
    (tmp_path / "only").mkdir()
    (tmp_path / "only" / "a.png").write_bytes(images.encode_png(np.zeros((4, 4), np.uint8)))
    with pytest.raises(DataLoadError, match="one class subfolder"):
        read_folder(str(tmp_path))
    with pytest.raises(DataLoadError, match="<root>/<class>/<image>.png"):
        read_folder(str(tmp_path / "only"))


@pytest.mark.slow
def test_a_gcs_prefix_loads_like_a_local_folder(gcs_emulator, digits, tmp_path):
    client = gcs_emulator
    client.create_bucket("image-bucket")
    bucket = client.bucket("image-bucket")
    subset = digits.groupby("target").head(2)
    for name, data in zip(subset["file"], subset["image"], strict=True):
        bucket.blob(f"raw/digits/{name}").upload_from_string(bytes(data))
    bucket.blob("raw/digits/_SUCCESS").upload_from_string(b"")
    uri = "gs://image-bucket/raw/digits/"
    assert is_image_folder(uri, client)
    frame = load(uri, client=client).frame
    pd.testing.assert_frame_equal(
        frame.reset_index(drop=True), subset.sort_values("file").reset_index(drop=True)
    )


def test_the_preprocessor_decodes_scales_and_records_the_image_task(digits):
    result = split_and_preprocess(digits)
    proc = result.preprocessor
    task = proc.task_spec
    assert task.feature_kind == "image" and task.image_shape == [8, 8, 1]
    assert task.task_type == "multiclass" and task.classes == [str(d) for d in range(10)]
    assert proc.num_features == 64 and result.train.shape[1] == 65
    features = result.train.drop(columns="label").to_numpy()
    assert features.min() >= 0.0 and features.max() <= 1.0
    # The JSON round trip keeps it an image preprocessor.
    again = Preprocessor(**proc.to_json())
    row = digits.iloc[[5]]
    np.testing.assert_array_equal(again.transform_features(row), proc.transform_features(row))
    # Serving's inputs (base64, arrays of 0-255 pixels in two shapes) give the same features.
    pixels = images.decode(row["image"].iloc[0])
    b64 = base64.b64encode(row["image"].iloc[0]).decode()
    shape = proc.task_spec.image_shape
    served = images.request_pixels([{"b64": b64}, b64, pixels.tolist(), pixels[..., 0]], shape)
    for got in served:
        np.testing.assert_allclose(got, proc.transform_features(row)[0], atol=1e-6)
    # inverse_features gives images back (the champion re-encoding path).
    back = proc.inverse_features(features[:3])
    np.testing.assert_allclose(proc.transform_features(back), features[:3], atol=1 / 255)


def test_bad_images_are_named_with_the_fix(digits):
    proc = split_and_preprocess(digits).preprocessor
    bad = digits.head(2).copy()
    bad.loc[bad.index[1], "image"] = b"not a png"
    with pytest.raises(DataValidationError, match="'0/digit_00010.png' is not a decodable"):
        proc.transform_features(bad)
    odd = digits.head(1).copy()
    odd["image"] = [images.encode_png(np.zeros((9, 8), np.uint8))]
    with pytest.raises(DataValidationError, match=r"is \[9, 8, 1\].*takes \[8, 8, 1\]"):
        proc.transform_features(odd)
    with pytest.raises(DataValidationError, match="instance 0 is not base64"):
        images.request_pixels(["%%%"], proc.task_spec.image_shape)
    with pytest.raises(DataValidationError, match="keys"):
        images.request_pixels([{"data": "x"}], proc.task_spec.image_shape)
    with pytest.raises(DataValidationError, match=r"shape \[1, 7, 7\]"):
        images.request_pixels([np.zeros((7, 7))], proc.task_spec.image_shape)
