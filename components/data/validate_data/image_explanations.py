"""Plain-word explanations of failed expectations on an image facts table, naming the files.

The facts table is :func:`.images.facts_table`'s. Failures on its own columns (``decodes``,
``height``/``width``/``channels``, ``mean``, the target, ``class_share``) get a sentence
naming the first offending files and what is wrong with each; any other failure gets the
tabular sentence of :mod:`.explanations` plus the files GX reported. Every entry carries
``files``: the first :data:`NAMED` offending file names.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
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


def _explain_facts(
    type_: str, kwargs: dict[str, Any], facts: pd.DataFrame, target: str
) -> dict[str, Any] | None:
    """The entry of a failure on one of the facts columns, or None for another failure."""
    column = kwargs.get("column")
    if column not in facts.columns or FILE_COLUMN not in facts.columns:
        return None
    series = facts[column]
    if type_ == "expect_column_distinct_values_to_contain_set" and column == target:
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
    if column == "decodes" and type_ == "expect_column_values_to_be_in_set":
        bad = ~series.astype(bool)
    else:
        mask = _mask(type_, kwargs, series)
        if mask is None:
            return None
        bad = mask
    rows = facts[bad]
    top = rows.head(NAMED)
    files = [str(f) for f in top[FILE_COLUMN]]
    count = len(rows)
    if not count:  # GX failed for another reason (e.g. an exception): the generic wording
        return None
    if column == "decodes":
        errors = rows["error"] if "error" in rows.columns else pd.Series("", index=rows.index)
        reasons = [
            f"'{f}' ({_reason(e)})"
            for f, e in zip(top[FILE_COLUMN], errors.head(NAMED), strict=True)
        ]
        return _entry(
            type_,
            column,
            f"{count} of {len(facts)} files do not decode",
            f"{_plural(count, 'file')} of {len(facts)} {_verb(count, 'does')} not "
            f"decode as PNG or JPEG: {_listed(reasons, count)}; fix: remove or re-export "
            f"{_them(count)} upstream",
            files,
        )
    if column in _SHAPE:
        expected = kwargs.get("value_set") or [kwargs.get("min_value"), kwargs.get("max_value")]
        shapes = [f"'{r[FILE_COLUMN]}' is {_shape_of(r)}" for _, r in top.iterrows()]
        return _entry(
            type_,
            column,
            f"{count} files with another {column}",
            f"{_plural(count, 'file')} {_verb(count, 'has')} a {column} other than "
            f"{'/'.join(_fmt(v) for v in expected if v is not None)} "
            f"({_listed(shapes, count)}; height x width x channels); fix: resize or convert "
            f"{_them(count)} to the training shape upstream, or drop {_them(count)}",
            files,
        )
    if column == "mean" and type_ == "expect_column_values_to_be_between":
        means = [f"'{f}' {m:.1f}" for f, m in zip(top[FILE_COLUMN], top["mean"], strict=True)]
        low, high = kwargs.get("min_value"), kwargs.get("max_value")
        return _entry(
            type_,
            column,
            f"{count} files with mean intensity out of range",
            f"{_plural(count, 'file')} {_verb(count, 'has')} a mean pixel value "
            f"outside [{_fmt(low)}, {_fmt(high)}] of the reference "
            f"({_listed(means, count)}); fix: check for blank, saturated or inverted images "
            "upstream, or re-derive the suite if the images changed on purpose",
            files,
        )
    if column == target and type_ == "expect_column_values_to_be_in_set":
        labels = [f"'{f}' is {_fmt(v)}" for f, v in zip(top[FILE_COLUMN], top[target], strict=True)]
        unseen = rows[target].value_counts()
        return _entry(
            type_,
            column,
            f"{count} files of unknown classes: " + ", ".join(map(repr, unseen.index[:NAMED])),
            f"{_plural(count, 'file')} {_verb(count, 'has')} a class not in the "
            f"reference ({_listed(labels, count)}; unseen: "
            f"{', '.join(f'{_fmt(v)} x{c}' for v, c in unseen.head(NAMED).items())}"
            "); fix: move them to a known class subfolder upstream, or re-derive the suite if "
            "the class is new on purpose",
            files,
        )
    if column == "class_share" and target in facts.columns and type_.endswith("between"):
        low = kwargs.get("min_value")
        shares = rows.groupby(target, sort=True)[FILE_COLUMN].count()
        classes = [
            f"{_fmt(c)} {n} of {len(facts)} ({100 * n / len(facts):.1f}%)"
            for c, n in shares.items()
        ]
        return _entry(
            type_,
            column,
            f"{len(shares)} classes below {100 * (low or 0):.2f}%",
            f"{_plural(len(shares), 'class')} {_verb(len(shares), 'holds')} less "
            f"than {100 * (low or 0):.2f}% of the files ({_listed(classes, len(shares))}); "
            "fix: add images of those classes or rebalance upstream, or lower "
            "min_class_fraction if the imbalance is real",
            files,
        )
    return None


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
