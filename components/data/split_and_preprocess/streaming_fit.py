"""Fit the preprocessor batch by batch: the same statistics as :func:`.fitting.fit_frame`.

Pass one (:class:`Profile`) reads every labelled row: gaps per column over all rows (with
``impute`` off a gap anywhere is an error, as in memory), the target's distinct values and
class counts over all rows (task type, stratification checks), and over the training rows
only: feature moments, category counts, target moments. With ``impute`` on, the exact
training medians take two or three more passes over the numeric columns
(:class:`~kfp_mlops.components.data.sketches.RankSelector`). Memory stays bounded by one
batch plus the category counts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np
import pandas as pd

from kfp_mlops.components.common.errors import DataValidationError
from kfp_mlops.components.data import sketches
from kfp_mlops.components.data.split_and_preprocess import fitting

#: Distinct target values tracked (more: a regression target, or too many classes).
MAX_TRACKED = 10_000

#: ``read()`` yields (training rows, all labelled rows) of one batch.
Reader = Callable[[], Iterator[tuple[pd.DataFrame, pd.DataFrame]]]


class Profile:
    """Statistics of one streaming pass over the labelled rows."""

    def __init__(self, columns: list[str], dtypes: pd.Series, target: str) -> None:
        self.target = target
        self.features = [c for c in columns if c != target]
        self.numeric = [c for c in self.features if pd.api.types.is_numeric_dtype(dtypes[c])]
        self.categorical = [c for c in self.features if c not in self.numeric]
        self.gaps = dict.fromkeys(self.features, 0)
        self.train_gaps = dict.fromkeys(self.features, 0)
        self.moments = {c: sketches.Moments() for c in self.numeric}
        # finite min, finite max, count of -inf, count of +inf
        self.limits: dict[str, list[float]] = {c: [np.inf, -np.inf, 0, 0] for c in self.numeric}
        self.counts: dict[str, Counter[str]] = {c: Counter() for c in self.categorical}
        self.labels: Counter[Any] = Counter()
        self.train_labels: set[str] = set()
        self.target_moments = sketches.Moments()
        self.target_numeric = pd.api.types.is_numeric_dtype(dtypes[target]) and not (
            pd.api.types.is_bool_dtype(dtypes[target])
        )
        self.integral = True
        self.rows = self.train_rows = 0

    def update(self, train: pd.DataFrame, labelled: pd.DataFrame) -> None:
        """Add one batch: its training rows and all its labelled rows."""
        self.rows += len(labelled)
        self.train_rows += len(train)
        for column, n in labelled[self.features].isna().sum().items():
            self.gaps[column] += int(n)
        for column, n in train[self.features].isna().sum().items():
            self.train_gaps[column] += int(n)
        for column in self.numeric:
            values = train[column].to_numpy(dtype=np.float64, na_value=np.nan)
            values = values[~np.isnan(values)]
            finite = values[np.isfinite(values)]
            self.moments[column].add(values)
            limits = self.limits[column]
            if len(finite):
                limits[0] = min(limits[0], float(finite.min()))
                limits[1] = max(limits[1], float(finite.max()))
            limits[2] += int(np.count_nonzero(values == -np.inf))
            limits[3] += int(np.count_nonzero(values == np.inf))
        for column in self.categorical:
            self.counts[column].update(train[column].dropna().astype(str))
            fitting.check_categories(column, len(self.counts[column]))
        self._update_target(train[self.target], labelled[self.target])

    def _update_target(self, train: pd.Series, labelled: pd.Series) -> None:
        if len(self.labels) <= MAX_TRACKED:
            self.labels.update(labelled.tolist())
        self.train_labels.update(train.astype(str).unique().tolist())
        if self.target_numeric:
            values = labelled.to_numpy(dtype=np.float64)
            self.integral = self.integral and bool(np.all(np.mod(values, 1) == 0))
            self.target_moments.add(train.to_numpy(dtype=np.float64))

    def task_type(self) -> str:
        """As :func:`.fitting.infer_task_type` on all labelled rows."""
        if self.target_numeric and (
            not self.integral or len(self.labels) > fitting.MAX_INTEGER_CLASSES
        ):
            return "regression"
        return "binary" if len({str(v) for v in self.labels}) == 2 else "multiclass"

    def check_classes(self, kind: str) -> None:
        """The stratification checks of the in-memory split, on the class counts.

        Raises:
            DataValidationError: On a single class or a class with fewer than 3 rows.
        """
        if kind == "regression":
            return
        counts = Counter()
        for value, n in self.labels.items():
            counts[str(value)] += n
        if len(counts) < 2:
            raise DataValidationError(
                f"target column '{self.target}' has a single class '{next(iter(counts))}'",
                "a classifier needs at least two classes",
            )
        name, smallest = min(counts.items(), key=lambda kv: kv[1])
        if smallest < 3:
            raise DataValidationError(
                f"class '{name}' has only {smallest} rows: too few to stratify into 3 splits",
                "collect more rows of that class or drop it",
            )


def _most_frequent(counts: Counter[str]) -> str:
    # Counter.most_common keeps first-seen order among equal counts.
    return counts.most_common(1)[0][0] if counts else "missing"


def _medians(profile: Profile, read: Reader) -> dict[str, float]:
    """Exact training medians of the numeric columns, in a few streaming passes."""
    stats, ranks = {}, {}
    for column in profile.numeric:
        low, high, neg, pos = profile.limits[column]
        n = profile.moments[column].count
        stats[column] = (int(n - neg - pos), low, high, int(neg))
        ranks[column] = sketches.median_ranks(n)
    selector = sketches.RankSelector(ranks, stats)

    def batches(columns: list[str]) -> Iterator[dict[str, np.ndarray]]:
        for train, _ in read():
            out = {}
            for column in columns:
                values = train[column].to_numpy(dtype=np.float64, na_value=np.nan)
                out[column] = values[~np.isnan(values)]
            yield out

    sketches.run_passes(selector, batches)
    return {
        c: sketches.median_of(selector.result(c, ranks[c])) if ranks[c] else float("nan")
        for c in profile.numeric
    }


def fit_streaming(
    cls: Any,
    profile: Profile,
    read: Reader,
    *,
    task_type: str = "auto",
    impute: bool = False,
    missing_indicator: bool = False,
    standardize_target: bool = False,
) -> Any:
    """A preprocessor from a :class:`Profile` (plus median passes when imputing)."""
    kind = profile.task_type() if task_type == "auto" else task_type
    if kind == "regression" and not profile.target_numeric:
        raise DataValidationError(
            f"the regression target '{profile.target}' has non-numeric values",
            "clean the target column or use a classification task_type",
        )
    classes = (
        []
        if kind == "regression"
        else sorted((str(v) for v in profile.train_labels), key=fitting.natural_key)
    )
    proc = fitting.start(cls, profile.target, classes, profile.numeric, profile.categorical, impute)
    if impute:
        medians = _medians(profile, read)
        proc.fill_numeric = [fitting.finite_or_zero(medians[c]) for c in profile.numeric]
        proc.fill_categorical = [_most_frequent(profile.counts[c]) for c in profile.categorical]
        if missing_indicator:
            proc.indicator_columns = [
                c for c in profile.numeric + profile.categorical if profile.train_gaps[c]
            ]
    proc.mean, proc.scale = [], []
    for j, column in enumerate(profile.numeric):
        moments = sketches.Moments(**vars(profile.moments[column]))
        if impute:
            moments.merge(profile.train_gaps[column], proc.fill_numeric[j])
        std = moments.std()
        proc.mean.append(float(moments.mean))
        proc.scale.append(std if std > 0 else 1.0)
    proc.categories = []
    for j, column in enumerate(profile.categorical):
        seen = set(profile.counts[column])
        if impute and profile.train_gaps[column]:
            seen.add(proc.fill_categorical[j])
        proc.categories.append(sorted(seen))
    target = profile.target_moments
    return fitting.finish(
        proc, kind, None, standardize_target, moments=(float(target.mean), target.std())
    )
