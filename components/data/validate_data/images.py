"""Validate a raw image Dataset: GX on a per-file facts table, failures naming the files.

A raw image Dataset (``file``, ``image`` bytes, target; see
:mod:`kfp_mlops.components.common.images`) is not validated on its bytes: each file is
decoded once into one row of a *facts table*, and the usual suite machinery
(:func:`.core.build_result`, :mod:`.gx_runner`) runs on that table. Its columns, which a
user suite for an image dataset names::

    file         string   the file's path, e.g. "7/digit_00012.png"
    decodes      bool     whether the bytes decode as PNG or JPEG
    height       float    pixels (NaN when the file does not decode)
    width        float    pixels (NaN when the file does not decode)
    channels     float    1 grayscale, 3 RGB (NaN when the file does not decode)
    mean         float    mean pixel value, 0-255 (NaN when the file does not decode)
    error        string   why the file does not decode ("" when it does)
    <target>     string   the class (the file's subfolder)
    class_share  float    the share of the dataset's files that have this file's class

The derived suite (:func:`derive_image_suite`) checks every file decodes, has the expected
height, width and channels (the reference's majority shape, else the dataset's own), a
mean intensity within the reference's range widened by ``margin``, a class of the
reference's label set, every reference class present, and each class holding at least
``min_class_fraction`` of the files (0 derives the floor: half the reference's smallest
class share). Failures name the offending files (:mod:`.image_explanations`); the
``failed`` entries carry them as ``files`` and GX's results as
``partial_unexpected_files``.
"""

from __future__ import annotations

import functools
import logging
import math
from pathlib import Path
from typing import Any

import pandas as pd

from kfp_mlops.components.common import images as image_files
from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.data.validate_data import core
from kfp_mlops.components.data.validate_data.gx_runner import gx_suite, run_gx
from kfp_mlops.components.data.validate_data.image_explanations import explain, name_files
from kfp_mlops.components.data.validate_data.image_facts import (  # noqa: F401 - re-exported
    BATCH_ROWS,
    FILE,
    SHAPE_COLUMNS,
    SHARE_COLUMN,
    facts_table,
    is_image_dataset,
    read_facts,
)
from kfp_mlops.components.data.validate_data.suites import (
    check_margin,
    check_shared_columns,
    check_suite,
    expectation,
    load_suite,
    python_value,
)

log = logging.getLogger(__name__)

#: A derived class-balance floor is this fraction of the reference's smallest class share.
BALANCE_RATIO = 0.5


def derive_image_suite(
    reference: pd.DataFrame,
    target_column: str = "target",
    margin: float = 0.1,
    min_class_fraction: float = 0.0,
    derived_from: str = "reference",
) -> dict[str, Any]:
    """Derive the suite of an image dataset from a reference (raw image frame or facts).

    Args:
        reference: The images the suite describes (e.g. the training data), or their facts.
        target_column: The label column; it must be in ``reference``.
        margin: Slack of the mean-intensity range, as a fraction of the reference's range.
        min_class_fraction: The least share of the files each class must hold; 0 derives
            it as :data:`BALANCE_RATIO` times the reference's smallest class share.
        derived_from: ``reference`` or ``data`` (the dataset itself; recorded in meta).

    Raises:
        ParameterError: If a parameter is out of range, the reference has no files or no
            target column, or (a reference) none of its files decodes.
    """
    check_margin(margin)
    if not 0 <= min_class_fraction < 1:
        raise ParameterError(
            f"min_class_fraction={min_class_fraction} is out of range",
            "use a share in [0, 1), e.g. 0.05; 0 derives it from the reference",
        )
    facts = _reference_facts(reference, target_column, derived_from)
    found = [
        expectation(
            "expect_table_columns_to_match_set", column_set=list(facts.columns), exact_match=True
        ),
        expectation("expect_table_row_count_to_be_between", min_value=1, max_value=None),
        expectation("expect_column_values_to_be_in_set", column="decodes", value_set=[True]),
    ]
    pixels, shape = _pixel_expectations(facts, margin, derived_from)
    labels = facts[target_column].dropna()
    classes = sorted((python_value(v) for v in labels.unique()), key=lambda v: (str(type(v)), v))
    floor = min_class_fraction or _derived_floor(labels)
    found += [*pixels, *_class_expectations(target_column, classes, floor)]
    for exp in found:
        exp["meta"]["derived_from"] = derived_from
    log.info(
        "derived image suite: %d expectations, shape %s, %d classes, class floor %.4f",
        len(found),
        shape or "unknown",
        len(classes),
        floor,
    )
    meta = {
        "kind": "images",
        "margin": margin,
        "target_column": target_column,
        "derived_from": derived_from,
        "image_shape": shape,
        "min_class_fraction": floor,
    }
    return {"name": f"derived-images-from-{derived_from}", "expectations": found, "meta": meta}


def _reference_facts(
    reference: pd.DataFrame, target_column: str, derived_from: str
) -> pd.DataFrame:
    """The facts table a suite is derived from, checked to have files and the target.

    Args:
        reference: A raw image frame or its facts table.
        target_column: The label column.
        derived_from: ``reference`` or ``data`` (names the frame in the errors).

    Raises:
        ParameterError: If ``reference`` is not an image frame, has no files or no target.
    """
    facts = facts_table(reference, target_column)
    what = "reference" if derived_from == "reference" else "dataset"
    if facts.empty:
        raise ParameterError(f"the {what} has no images", "pass the training images as reference")
    if target_column not in facts.columns:
        raise ParameterError(
            f"target column '{target_column}' is not in the {what} "
            f"(columns: {', '.join(map(str, facts.columns))})",
            "set target_column to the label's column name",
        )
    return facts


def _pixel_expectations(
    facts: pd.DataFrame, margin: float, derived_from: str
) -> tuple[list[dict[str, Any]], list[int]]:
    """The shape and mean-intensity expectations of the decoded files, and their shape.

    Args:
        facts: The facts table the suite is derived from.
        margin: Slack of the mean-intensity range, as a fraction of the facts' range.
        derived_from: ``reference`` or ``data``.

    Returns:
        The expectations (none when no file decodes) and the majority shape
        (``[height, width, channels]``; empty when no file decodes).

    Raises:
        ParameterError: If no file of a reference decodes (a dataset's own suite then
            checks only that every file decodes).
    """
    decoded = facts[facts["decodes"].astype(bool)]
    if not len(decoded):
        if derived_from == "reference":
            raise ParameterError(
                "no reference image decodes", "pass the training images (PNG or JPEG) as reference"
            )
        return [], []
    shape = image_files.majority_shape(
        image_files.ImageFacts(str(f), True, int(h), int(w), int(c))
        for f, h, w, c in decoded[[FILE, *SHAPE_COLUMNS]].itertuples(index=False)
    )
    found = [
        expectation("expect_column_values_to_be_in_set", column=c, value_set=[v])
        for c, v in zip(SHAPE_COLUMNS, shape, strict=True)
    ]
    low, high = float(decoded["mean"].min()), float(decoded["mean"].max())
    pad = margin * (high - low) or margin * max(abs(low), abs(high)) or margin
    found.append(
        expectation(
            "expect_column_values_to_be_between",
            column="mean",
            min_value=max(0.0, low - pad),
            max_value=min(image_files.PIXEL_SCALE, high + pad),
        )
    )
    return found, shape


def _class_expectations(
    target_column: str, classes: list[Any], floor: float
) -> list[dict[str, Any]]:
    """The label expectations: no nulls, known classes, every class there, balance floor.

    Args:
        target_column: The label column.
        classes: The reference's classes, sorted.
        floor: The least share of the files each class must hold.
    """
    return [
        expectation("expect_column_values_to_not_be_null", column=target_column),
        expectation("expect_column_values_to_be_in_set", column=target_column, value_set=classes),
        expectation(
            "expect_column_distinct_values_to_contain_set", column=target_column, value_set=classes
        ),
        expectation("expect_column_values_to_be_between", column=SHARE_COLUMN, min_value=floor),
    ]


def _derived_floor(labels: pd.Series) -> float:
    """:data:`BALANCE_RATIO` times the smallest class share, rounded down to 4 digits."""
    if labels.empty:
        return 0.0
    smallest = float(labels.value_counts(normalize=True).min())
    return math.floor(smallest * BALANCE_RATIO * 1e4) / 1e4


def resolve_image_suite(
    suite_json: str = "",
    suite_path: str | None = None,
    reference: pd.DataFrame | None = None,
    target_column: str = "target",
    margin: float = 0.1,
    min_class_fraction: float = 0.0,
    data: pd.DataFrame | None = None,
) -> dict[str, Any]:
    """Pick the suite as :func:`.derive.resolve_suite` does, deriving image suites.

    Raises:
        ParameterError: If nothing to take a suite from is given, or it is invalid.
    """
    if suite_path:
        return load_suite(suite_path)
    if suite_json.strip():
        return load_suite(suite_json)
    if reference is not None:
        return derive_image_suite(reference, target_column, margin, min_class_fraction)
    if data is not None:
        log.warning(
            "no reference or suite given: the image suite is derived from the dataset itself, "
            "so it checks only that every file decodes and has the dataset's majority shape"
        )
        return derive_image_suite(data, target_column, margin, min_class_fraction, "data")
    raise ParameterError(
        "no expectation suite: neither a suite nor a reference dataset was given",
        "pass a suite or a reference (e.g. the training images)",
    )


def validate_images(
    frame: pd.DataFrame, suite: dict[str, Any], target_column: str | None = None
) -> core.ValidationResult:
    """Run ``suite`` on the facts table of ``frame`` (raw images or facts) with GX.

    Args:
        frame: A raw image frame, or its facts table (:func:`facts_table`).
        suite: A suite on the facts table's columns (GX 1.x JSON).
        target_column: The label column; default: the suite's ``meta.target_column``,
            else ``target``.

    Raises:
        ParameterError: If the suite is malformed, or shares no column with the facts.
    """
    checked = check_suite(suite)
    gx_suite(checked)
    target = target_column or (checked.get("meta") or {}).get("target_column") or "target"
    facts = facts_table(frame, target)
    check_shared_columns(checked, list(facts.columns))
    raw = run_gx(facts, checked)
    for res in raw["results"]:
        result = res.get("result") or {}
        if not res["success"] and result.get("partial_unexpected_index_list"):
            result["partial_unexpected_files"] = name_files(
                facts, result["partial_unexpected_index_list"]
            )
    return core.build_result(
        checked,
        raw,
        lambda type_, kwargs: facts,
        len(facts),
        explain=functools.partial(explain, target_column=target),
    )


def validate_image_dataset(
    dataset_path: str,
    reference_path: str | None = None,
    suite_path: str | None = None,
    suite_json: str = "",
    target_column: str = "target",
    margin: float = 0.1,
    min_class_fraction: float = 0.0,
) -> core.ValidationResult:
    """:func:`.core.validate_dataset` for raw image Datasets (paths in, a result out).

    Raises:
        ParameterError: If only one of the dataset and the reference holds images, or the
            suite is invalid.
    """
    for path, what in ((dataset_path, "dataset"), (reference_path, "reference")):
        if path and not is_image_dataset(path) and Path(path).exists():
            raise ParameterError(
                f"the {what} is a table while the other side is a raw image Dataset",
                "validate raw images against raw images (the loaded image folder, before "
                "split_and_preprocess turns it into pixel columns), or tables against tables",
            )
    facts = read_facts(dataset_path, target_column)
    chosen = resolve_image_suite(
        suite_json=suite_json,
        suite_path=suite_path,
        reference=read_facts(reference_path, target_column) if reference_path else None,
        target_column=target_column,
        margin=margin,
        min_class_fraction=min_class_fraction,
        data=facts,
    )
    return validate_images(facts, chosen, target_column)
