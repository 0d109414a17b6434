"""Self-contained HTML reports (inline CSS and base64 PNG plots) for KFP ``HTML`` artifacts.

The KFP UI renders an HTML artifact in a sandboxed iframe with no network, so nothing
may be loaded from elsewhere.
"""

from __future__ import annotations

import base64
import html
import io
import math
import numbers
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

_CSS = """
body{font-family:-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#202124}
h1{font-size:20px}h2{font-size:16px;margin-top:24px}
table{border-collapse:collapse;font-size:13px}
td,th{border:1px solid #dadce0;padding:4px 8px;text-align:left}
th{background:#f1f3f4}.ok{color:#188038;font-weight:600}.bad{color:#d93025;font-weight:600}
.grid{display:flex;flex-wrap:wrap;gap:8px}.grid img{width:320px}
"""


def escape(value: Any) -> str:
    """HTML-escape any value's string form."""
    return html.escape(str(value))


def fmt(value: Any, digits: int = 4, *, fixed: bool = False, missing: str = "-") -> str:
    """A value as a report cell: numbers rounded, None and NaN as ``missing``.

    Args:
        value: Anything; floats are rounded, integers and booleans printed as they are,
            other values by ``str``.
        digits: Significant digits (``fixed=False``) or decimals (``fixed=True``).
        fixed: Fixed-point (``0.9500``, for scores that share a scale); a non-zero value
            that would round to zero is shown with ``digits - 1`` significant digits
            instead (``2.5e-05``), so a tiny p-value never reads as 0.
        missing: Text for None and NaN.
    """
    if value is None or (isinstance(value, numbers.Real) and math.isnan(value)):
        return missing
    if isinstance(value, (bool, numbers.Integral)) or not isinstance(value, numbers.Real):
        return str(value)
    value = float(value)
    if fixed and not (0 < abs(value) < 10.0 ** -(digits - 1)):
        return f"{value:.{digits}f}"
    return f"{value:.{digits - 1 if fixed else digits}g}"


def status(ok: bool, yes: str = "passed", no: str = "failed") -> str:
    """A coloured pass/fail label."""
    return f'<span class="{"ok" if ok else "bad"}">{yes if ok else no}</span>'


def table(
    headers: Sequence[str], rows: Iterable[Sequence[Any]], raw_columns: Iterable[int] = ()
) -> str:
    """An HTML table; cells are escaped except those in ``raw_columns`` (pre-rendered HTML)."""
    raw = set(raw_columns)
    head = "".join(f"<th>{escape(h)}</th>" for h in headers)
    body = "".join(
        "<tr>"
        + "".join(f"<td>{c if i in raw else escape(c)}</td>" for i, c in enumerate(r))
        + "</tr>"
        for r in rows
    )
    return f"<table><tr>{head}</tr>{body}</table>"


def figure_png(fig: Any) -> str:
    """Render a matplotlib figure as an inline ``<img>`` and close it."""
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=80, bbox_inches="tight")
    plt.close(fig)
    data = base64.b64encode(buf.getvalue()).decode("ascii")
    return f'<img alt="plot" src="data:image/png;base64,{data}"/>'


def page(title: str, body: str) -> str:
    """A whole HTML document."""
    return (
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>"
        f"<style>{_CSS}</style></head><body><h1>{escape(title)}</h1>{body}</body></html>"
    )


def write(path: str, title: str, body: str) -> None:
    """Write :func:`page` to ``path``."""
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(page(title, body), encoding="utf-8")
