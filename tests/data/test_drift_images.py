"""Tests of image drift: channel statistics and a reference-fitted pixel PCA, then PSI/KS."""

import json

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.common import images, shards
from kfp_mlops.components.common.errors import DataValidationError, ParameterError
from kfp_mlops.components.data.detect_drift import images as drift_images
from kfp_mlops.components.data.detect_drift.core import feature_drift
from kfp_mlops.components.data.detect_drift.streaming import (
    drift_between,
    feature_drift_streaming,
)
from kfp_mlops.components.data.load_dataset.images import digits_images

CHANNEL_STATS = [f"channel_0_{s}" for s in ("mean", "std", "p05", "p50", "p95")]


@pytest.fixture(scope="module")
def digits_images_frame() -> pd.DataFrame:
    return digits_images()


def halves(frame: pd.DataFrame, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Two random halves of the digits images (an unshifted resample of each other)."""
    order = np.random.default_rng(seed).permutation(len(frame))
    half = len(frame) // 2
    return (
        frame.iloc[order[:half]].reset_index(drop=True),
        frame.iloc[order[half:]].reset_index(drop=True),
    )


def brightness_contrast(frame: pd.DataFrame, gain: float = 0.6, offset: float = 60.0):
    """The same images with lower contrast and higher brightness (re-encoded as PNG)."""
    out = frame.copy()
    out[images.IMAGE_COLUMN] = [
        images.encode_png(
            np.clip(np.rint(images.decode(data, name) * gain + offset), 0, 255).astype(np.uint8)
        )
        for data, name in zip(frame[images.IMAGE_COLUMN], frame[images.FILE_COLUMN], strict=True)
    ]
    return out


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_unshifted_resample_is_not_drifted(digits_images_frame, seed):
    ref, cur = halves(digits_images_frame, seed)
    result = feature_drift(ref, cur)
    assert not result.drift_detected, result.to_dict()
    assert result.share_drifted == 0.0
    assert result.max_psi < 0.1
    assert result.reference_rows == len(ref) and result.current_rows == len(cur)
    names = [f.feature for f in result.features]
    assert names == CHANNEL_STATS + [f"pca_{i}" for i in range(1, 9)]
    assert all(f.kind == "numeric" and f.ks_pvalue is not None for f in result.features)


def test_brightness_contrast_shift_is_drifted(digits_images_frame):
    ref, cur = halves(digits_images_frame)
    result = feature_drift(ref, brightness_contrast(cur))
    assert result.drift_detected
    assert set(CHANNEL_STATS) <= set(result.drifted_features)
    by_name = {f.feature: f for f in result.features}
    for name in CHANNEL_STATS:
        assert by_name[name].psi > 1.0
        assert by_name[name].ks_pvalue < 1e-6
    # The embedding sees it too: the offset moves every pixel off the reference mean.
    assert any(f.startswith("pca_") for f in result.drifted_features)
    # Same JSON shape as for tables.
    payload = json.loads(result.to_json())
    assert payload["drift_detected"] is True
    assert set(payload["drifted_features"]) >= set(CHANNEL_STATS)


def test_channel_statistics_are_the_pixel_statistics(digits_images_frame):
    ref, cur = halves(digits_images_frame)
    tables = drift_images.image_features(ref, cur)
    first = images.decode(cur[images.IMAGE_COLUMN].iloc[0]).astype(float)
    row = tables.current.iloc[0]
    assert row["channel_0_mean"] == pytest.approx(first.mean())
    assert row["channel_0_std"] == pytest.approx(first.std())
    assert row["channel_0_p50"] == pytest.approx(np.percentile(first, 50))
    assert len(tables.reference) == len(ref) and len(tables.current) == len(cur)
    assert list(tables.reference.columns) == list(tables.current.columns)
    # Centred at the reference mean: the reference's coordinates average to zero.
    pcs = tables.reference[tables.pca.names].to_numpy()
    assert np.abs(pcs.mean(axis=0)).max() < 1e-9
    assert np.all(np.diff(tables.pca.explained_variance_ratio) <= 1e-12)


def test_pca_is_fitted_on_the_reference_only(digits_images_frame):
    ref, cur = halves(digits_images_frame)
    plain = drift_images.image_features(ref, cur)
    shifted = drift_images.image_features(ref, brightness_contrast(cur))
    np.testing.assert_array_equal(plain.pca.components, shifted.pca.components)
    np.testing.assert_array_equal(plain.pca.mean, shifted.pca.mean)
    pd.testing.assert_frame_equal(plain.reference, shifted.reference)
    assert plain.pca.components.shape == (8, 64)
    # A PCA fitted on the current half (or on both) would differ.
    on_current = drift_images.fit_pca(cur, 8)
    assert not np.allclose(on_current.mean, plain.pca.mean)
    # Swapping the current window for a slice of itself changes nothing about the reference.
    again = drift_images.image_features(ref, cur.iloc[:100])
    pd.testing.assert_frame_equal(again.reference, plain.reference)


def test_randomized_pca_matches_exact_svd():
    # Above EXACT_SVD_MAX rows and pixels the PCA uses a seeded randomized SVD.
    rng = np.random.default_rng(0)
    n, d = 600, 400
    assert min(n, d) > drift_images.EXACT_SVD_MAX
    basis = np.linalg.qr(rng.standard_normal((d, 8)))[0].T
    scores = rng.standard_normal((n, 8)) * np.geomspace(20.0, 2.0, 8)
    x = scores @ basis + 0.05 * rng.standard_normal((n, d))
    x -= x.mean(axis=0)
    s, vt = drift_images._principal_axes(x, 8)
    _, s_exact, vt_exact = np.linalg.svd(x, full_matrices=False)
    np.testing.assert_allclose(s[:8], s_exact[:8], rtol=1e-6)
    overlap = np.abs(np.sum(vt[:8] * vt_exact[:8], axis=1))
    np.testing.assert_allclose(overlap, 1.0, atol=1e-6)
    again = drift_images._principal_axes(x, 8)
    np.testing.assert_array_equal(again[1], vt)  # seeded: the same every run


def test_no_components_leaves_channel_statistics(digits_images_frame):
    ref, cur = halves(digits_images_frame)
    result = feature_drift(ref, brightness_contrast(cur), image_components=0)
    assert [f.feature for f in result.features] == CHANNEL_STATS
    assert result.drift_detected


def test_dataset_paths_through_the_component_entry_point(tmp_path, digits_images_frame):
    ref, cur = halves(digits_images_frame)
    ref_path, cur_path, shifted_path = (
        tmp_path / "reference.parquet",
        tmp_path / "current.parquet",
        tmp_path / "shifted.parquet",
    )
    ref.to_parquet(ref_path, index=False)
    cur.to_parquet(cur_path, index=False)
    brightness_contrast(cur).to_parquet(shifted_path, index=False)

    result, ref_table, cur_table = drift_between(
        str(ref_path), str(cur_path), 0.1, bins=10, exclude=("target",)
    )
    assert not result.drift_detected
    assert list(ref_table.columns) == [f.feature for f in result.features]

    result, ref_table, cur_table = drift_between(
        str(ref_path), str(shifted_path), 0.1, bins=10, exclude=("target",)
    )
    assert result.drift_detected
    assert set(CHANNEL_STATS) <= set(result.drifted_features)
    in_memory = feature_drift(ref, brightness_contrast(cur))
    assert [f.psi for f in result.features] == pytest.approx([f.psi for f in in_memory.features])
    # The report plots the feature tables drift_between returns.
    report = tmp_path / "report.html"
    result.write_html(str(report), ref_table, cur_table)
    assert report.read_text(encoding="utf-8").count("<img") == len(result.features)


def test_sharded_image_datasets_stream(tmp_path, digits_images_frame):
    ref, cur = halves(digits_images_frame)
    shards.write_frame(ref, tmp_path / "ref", rows_per_shard=300, row_group_rows=100)
    shards.write_frame(brightness_contrast(cur), tmp_path / "cur", rows_per_shard=300)
    via_entry, _, cur_table = drift_between(str(tmp_path / "ref"), str(tmp_path / "cur"))
    direct, _, _ = feature_drift_streaming(str(tmp_path / "ref"), str(tmp_path / "cur"))
    in_memory = feature_drift(ref, brightness_contrast(cur))
    for streamed in (via_entry, direct):
        assert streamed.drifted_features == in_memory.drifted_features
        assert [f.psi for f in streamed.features] == pytest.approx(
            [f.psi for f in in_memory.features]
        )
    assert len(cur_table) == len(cur)


def test_report_from_raw_image_frames(tmp_path, digits_images_frame):
    ref, cur = halves(digits_images_frame)
    shifted = brightness_contrast(cur)
    result = feature_drift(ref, shifted, image_components=3)
    assert [f.feature for f in result.features][-3:] == ["pca_1", "pca_2", "pca_3"]
    report = tmp_path / "report.html"
    result.write_html(str(report), ref, shifted)
    html = report.read_text(encoding="utf-8")
    assert "channel_0_mean" in html and html.count("<img") == len(result.features)


def test_rgb_images_are_downscaled_for_pca():
    rng = np.random.default_rng(0)

    def frame(n: int, offset: int) -> pd.DataFrame:
        arrays = rng.integers(0, 200, size=(n, 48, 40, 3)) + offset
        return pd.DataFrame(
            {
                "file": [f"a/{i}.png" for i in range(n)],
                "image": [images.encode_png(a.astype(np.uint8)) for a in arrays],
                "target": ["a"] * n,
            }
        )

    ref, same, brighter = frame(120, 0), frame(120, 0), frame(120, 40)
    tables = drift_images.image_features(ref, same, components=4)
    assert tables.pca.shape == (48, 40, 3)
    assert tables.pca.size == (32, 27)
    assert tables.pca.components.shape == (4, 32 * 27 * 3)
    assert [c for c in tables.current.columns if c.startswith("channel_2")] == [
        f"channel_2_{s}" for s in ("mean", "std", "p05", "p50", "p95")
    ]
    # (120 images are too few for a no-drift check: PSI's sampling noise is about 0.15.)
    result = feature_drift(ref, brighter)
    assert {"channel_0_mean", "channel_1_mean", "channel_2_mean"} <= set(result.drifted_features)


def test_other_shapes_are_rejected_naming_the_files(digits_images_frame):
    ref, cur = halves(digits_images_frame)
    odd = cur.copy()
    odd.loc[3, "image"] = images.encode_png(np.zeros((16, 16), dtype=np.uint8))
    odd.loc[7, "image"] = images.encode_png(np.zeros((8, 8, 3), dtype=np.uint8))
    with pytest.raises(images.ImageDecodeError) as info:
        feature_drift(ref, odd)
    message = str(info.value)
    assert "2 current image(s)" in message and "[8, 8, 1]" in message
    assert f"'{odd.loc[3, 'file']}' [16, 16, 1]" in message
    assert f"'{odd.loc[7, 'file']}' [8, 8, 3]" in message
    # The reference's majority shape decides; a minority in the reference is named too.
    with pytest.raises(images.ImageDecodeError, match="1 reference image"):
        feature_drift(odd.drop(index=7), ref)


def test_undecodable_and_mixed_inputs_are_rejected(digits_images_frame, digits):
    ref, cur = halves(digits_images_frame)
    broken = cur.copy()
    broken.loc[0, "image"] = b"not a png"
    with pytest.raises(images.ImageDecodeError, match=broken.loc[0, "file"]):
        feature_drift(ref, broken)
    with pytest.raises(DataValidationError, match="current dataset is not a raw image"):
        feature_drift(ref, digits)
    with pytest.raises(DataValidationError, match="reference dataset is not a raw image"):
        feature_drift(digits, ref)
    with pytest.raises(DataValidationError, match="current window is empty"):
        feature_drift(ref, cur.iloc[:0])
    with pytest.raises(ParameterError, match="components"):
        drift_images.image_drift(ref, cur, components=-1)
    with pytest.raises(ParameterError, match="threshold"):
        feature_drift(ref, cur, threshold=0.0)


def test_tabular_path_unchanged(tmp_path, digits):
    # A table without an image column never goes through the image path.
    assert not images.is_image_frame(digits)
    digits.to_parquet(tmp_path / "d.parquet", index=False)
    assert not drift_images.is_image_dataset(str(tmp_path / "d.parquet"))
    result, ref, _ = drift_between(str(tmp_path / "d.parquet"), str(tmp_path / "d.parquet"))
    assert len(result.features) == digits.shape[1] - 1 and ref.shape == digits.shape


@pytest.mark.slow
def test_component_runs_on_images_in_kfp_local(kfp_local, tmp_path, digits_images_frame):
    from typing import NamedTuple

    from kfp import dsl
    from kfp.dsl import Dataset, Metrics

    from kfp_mlops.components.data.detect_drift.component import detect_drift

    ref, cur = halves(digits_images_frame)
    ref_path, cur_path = tmp_path / "reference.parquet", tmp_path / "current.parquet"
    ref.to_parquet(ref_path, index=False)
    brightness_contrast(cur).to_parquet(cur_path, index=False)

    class Outputs(NamedTuple):
        drift: bool
        metrics: Metrics

    @dsl.pipeline(name="image-drift-test")
    def pipe() -> Outputs:
        reference = dsl.importer(artifact_uri=str(ref_path), artifact_class=Dataset)
        current = dsl.importer(artifact_uri=str(cur_path), artifact_class=Dataset)
        task = detect_drift(reference=reference.output, current=current.output)
        return Outputs(drift=task.outputs["Output"], metrics=task.outputs["metrics"])

    run = pipe()
    assert run.outputs["drift"] is True
    assert run.outputs["metrics"].metadata["psi_channel_0_mean"] > 1.0
