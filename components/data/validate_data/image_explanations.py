"""Plain-word explanations of failed expectations on an image facts table, naming the files.

The facts table is :func:`.images.facts_table`'s. Failures on its own columns (``decodes``,
``height``/``width``/``channels``, ``mean``, the target, ``class_share``) get a sentence
naming the first offending files and what is wrong with each; any other failure gets the
tabular sentence of :mod:`.explanations` plus the files GX reported. Every entry carries
``files``: the first :data:`NAMED` offending file names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from kfp_mlops.components.common import report
from kfp_mlops.components.common.images import FILE_COLUMN
from kfp_mlops.components.data.validate_data import explanations
from kfp_mlops.components.data.validate_data.suites import python_value

#: Files named per failure (in the explanation and the entry's ``files``).
NAMED = 5
_SHAPE = ("height", "width", "channels")


def name_files(facts: pd.DataFrame, index: Iterable[Any]) -> list[str]:
    """The file names of the facts rows at ``index`` (GX's unexpected index list)."""
    if FILE_COLUMN not in facts.columns:
        return []
    names = facts[FILE_COLUMN]
    return [str(names.loc[i]) for i in index if i in names.index]


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 'es' if word.endswith('s') else 's'}"


def _listed(items: list[str], total: int) -> str:
    shown = ", ".join(items[:NAMED])
    return shown + (f" and {total - NAMED} more" if total > NAMED else "")


def _verb(n: int, singular: str) -> str:
    """``has``/``have``, ``does``/``do``, ``holds``/``hold`` for ``n`` subjects."""
    plural = {"has": "have", "does": "do"}.get(singular, singular[:-1])
    return singular if n == 1 else plural


def _them(n: int) -> str:
    return "it" if n == 1 else "them"


def _fmt(value: Any) -> str:
    """``'abc'`` for text, ``8`` for a whole float: readable in a sentence."""
    value = python_value(value)
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, float):
        return report.fmt(value, 6, missing="nan")
    return repr(value)


def _reason(error: Any) -> str:
    """Why a file does not decode, from its ``error`` (without Pillow's object addresses)."""
    text = str(error or "")
    text = text.split(" (", 1)[1].rsplit(")", 1)[0] if " (" in text else text
    return re.sub(r"\s*<[^>]*>", "", text).strip()[:80] or "not an image"


def _shape_of(row: pd.Series) -> str:
    return "x".join(str(int(row[c])) for c in _SHAPE)


def _mask(type_: str, kwargs: dict[str, Any], series: pd.Series) -> pd.Series | None:
    """The rows that fail a value-set or range check (nulls pass, as in GX), else None."""
    if type_ == "expect_column_values_to_be_in_set":
        return series.notna() & ~series.isin(kwargs.get("value_set") or [])
    if type_ == "expect_column_values_to_be_between":
        values = pd.to_numeric(series, errors="coerce")
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        out = pd.Series(False, index=series.index)
        if low is not None:
            out |= values < low
        if high is not None:
            out |= values > high
        return values.notna() & out
    return None


def _entry(type_: str, column: str, observed: str, text: str, files: list[str]) -> dict[str, Any]:
    return {
        "column": column,
        "expectation": type_,
        "observed": observed,
        "explanation": text,
        "files": files[:NAMED],
    }


@dataclass(frozen=True)
class _Failure:
    """A failed check on one facts column, with the facts rows that fail it."""

    type_: str
    column: str
    kwargs: dict[str, Any]
    facts: pd.DataFrame
    rows: pd.DataFrame
    target: str

    @property
    def count(self) -> int:
        """How many files fail the check."""
        return len(self.rows)

    @property
    def top(self) -> pd.DataFrame:
        """The first :data:`NAMED` failing rows (the files an explanation names)."""
        return self.rows.head(NAMED)

    def entry(self, observed: str, text: str) -> dict[str, Any]:
        """The failure entry, naming the first failing files."""
        files = [str(f) for f in self.top[FILE_COLUMN]]
        return _entry(self.type_, self.column, observed, text, files)


def _absent_classes(
    type_: str, column: str, kwargs: dict[str, Any], series: pd.Series
) -> dict[str, Any]:
    """The entry of reference classes that no file of the dataset has."""
    absent = [v for v in kwargs.get("value_set") or [] if v not in set(series.dropna())]
    shown = _listed([repr(v) for v in absent], len(absent))
    return _entry(
        type_,
        column,
        f"{len(absent)} classes without files",
        f"{_plural(len(absent), 'class')} of the reference {_verb(len(absent), 'has')} no "
        f"file in the dataset ({shown}); fix: add images of "
        f"{_them(len(absent))} upstream (one subfolder per class), or "
        "re-derive the suite if the class was dropped on purpose",
        [],
    )


def _undecodable(f: _Failure) -> dict[str, Any]:
    """The entry of files whose bytes do not decode, each with the reason."""
    rows, top, count = f.rows, f.top, f.count
    errors = rows["error"] if "error" in rows.columns else pd.Series("", index=rows.index)
    reasons = [
        f"'{name}' ({_reason(e)})"
        for name, e in zip(top[FILE_COLUMN], errors.head(NAMED), strict=True)
    ]
    return f.entry(
        f"{count} of {len(f.facts)} files do not decode",
        f"{_plural(count, 'file')} of {len(f.facts)} {_verb(count, 'does')} not "
        f"decode as PNG or JPEG: {_listed(reasons, count)}; fix: remove or re-export "
        f"{_them(count)} upstream",
    )


def _other_shape(f: _Failure) -> dict[str, Any]:
    """The entry of files whose height, width or channels is not the expected one."""
    kwargs, column, count = f.kwargs, f.column, f.count
    expected = kwargs.get("value_set") or [kwargs.get("min_value"), kwargs.get("max_value")]
    shapes = [f"'{r[FILE_COLUMN]}' is {_shape_of(r)}" for _, r in f.top.iterrows()]
    return f.entry(
        f"{count} files with another {column}",
        f"{_plural(count, 'file')} {_verb(count, 'has')} a {column} other than "
        f"{'/'.join(_fmt(v) for v in expected if v is not None)} "
        f"({_listed(shapes, count)}; height x width x channels); fix: resize or convert "
        f"{_them(count)} to the training shape upstream, or drop {_them(count)}",
    )


def _mean_out_of_range(f: _Failure) -> dict[str, Any]:
    """The entry of files whose mean pixel value is outside the reference's range."""
    top, count = f.top, f.count
    means = [f"'{name}' {m:.1f}" for name, m in zip(top[FILE_COLUMN], top["mean"], strict=True)]
    low, high = f.kwargs.get("min_value"), f.kwargs.get("max_value")
    return f.entry(
        f"{count} files with mean intensity out of range",
        f"{_plural(count, 'file')} {_verb(count, 'has')} a mean pixel value "
        f"outside [{_fmt(low)}, {_fmt(high)}] of the reference "
        f"({_listed(means, count)}); fix: check for blank, saturated or inverted images "
        "upstream, or re-derive the suite if the images changed on purpose",
    )


def _unknown_classes(f: _Failure) -> dict[str, Any]:
    """The entry of files whose class is not in the reference's label set."""
    top, count, target = f.top, f.count, f.target
    labels = [
        f"'{name}' is {_fmt(v)}" for name, v in zip(top[FILE_COLUMN], top[target], strict=True)
    ]
    unseen = f.rows[target].value_counts()
    return f.entry(
        f"{count} files of unknown classes: " + ", ".join(map(repr, unseen.index[:NAMED])),
        f"{_plural(count, 'file')} {_verb(count, 'has')} a class not in the "
        f"reference ({_listed(labels, count)}; unseen: "
        f"{', '.join(f'{_fmt(v)} x{c}' for v, c in unseen.head(NAMED).items())}"
        "); fix: move them to a known class subfolder upstream, or re-derive the suite if "
        "the class is new on purpose",
    )


def _small_classes(f: _Failure) -> dict[str, Any]:
    """The entry of classes that hold less than the floor share of the files."""
    low, total = f.kwargs.get("min_value"), len(f.facts)
    shares = f.rows.groupby(f.target, sort=True)[FILE_COLUMN].count()
    classes = [f"{_fmt(c)} {n} of {total} ({100 * n / total:.1f}%)" for c, n in shares.items()]
    return f.entry(
        f"{len(shares)} classes below {100 * (low or 0):.2f}%",
        f"{_plural(len(shares), 'class')} {_verb(len(shares), 'holds')} less "
        f"than {100 * (low or 0):.2f}% of the files ({_listed(classes, len(shares))}); "
        "fix: add images of those classes or rebalance upstream, or lower "
        "min_class_fraction if the imbalance is real",
    )


def _explainer(f: _Failure) -> Callable[[_Failure], dict[str, Any]] | None:
    """The explainer of a failure on a facts column, or None (the generic wording)."""
    if f.column == "decodes":
        return _undecodable
    if f.column in _SHAPE:
        return _other_shape
    if f.column == "mean" and f.type_ == "expect_column_values_to_be_between":
        return _mean_out_of_range
    if f.column == f.target and f.type_ == "expect_column_values_to_be_in_set":
        return _unknown_classes
    if f.column == "class_share" and f.target in f.facts.columns and f.type_.endswith("between"):
        return _small_classes
    return None


def _explain_facts(
    type_: str, kwargs: dict[str, Any], facts: pd.DataFrame, target: str
) -> dict[str, Any] | None:
    """The entry of a failure on one of the facts columns, or None for another failure."""
    column = kwargs.get("column")
    if column not in facts.columns or FILE_COLUMN not in facts.columns:
        return None
    series = facts[column]
    if type_ == "expect_column_distinct_values_to_contain_set" and column == target:
        return _absent_classes(type_, column, kwargs, series)
    if column == "decodes" and type_ == "expect_column_values_to_be_in_set":
        bad = ~series.astype(bool)
    else:
        mask = _mask(type_, kwargs, series)
        if mask is None:
            return None
        bad = mask
    rows = facts[bad]
    if not len(rows):  # GX failed for another reason (e.g. an exception): the generic wording
        return None
    failure = _Failure(type_, column, kwargs, facts, rows, target)
    explainer = _explainer(failure)
    return explainer(failure) if explainer is not None else None


def explain(
    type_: str,
    kwargs: dict[str, Any],
    gx_result: dict[str, Any],
    facts: pd.DataFrame,
    target_column: str = "target",
) -> list[dict[str, Any]]:
    """Failure entries for one failed expectation on an image facts table, naming files.

    :func:`.explanations.explain`'s signature plus the label column, for
    :func:`.core.build_result` (bind ``target_column`` with :func:`functools.partial`).
    """
    own = _explain_facts(type_, kwargs, facts, target_column)
    if own is not None:
        return [own]
    entries = explanations.explain(type_, kwargs, gx_result, facts)
    files = gx_result.get("partial_unexpected_files") or name_files(
        facts, gx_result.get("partial_unexpected_index_list") or []
    )
    for entry in entries:
        entry["files"] = files[:NAMED]
        if files:
            entry["explanation"] += f" (files: {', '.join(map(repr, files[:NAMED]))})"
    return entries
