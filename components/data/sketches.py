"""Streaming statistics shared by the data steps: moments, exact order statistics, quantiles.

Data larger than memory is read in record batches, so a statistic must be built from
pieces. :class:`Moments` merges counts, means and squared deviations (Chan et al.), exact to
float rounding. :class:`RankSelector` finds exact order statistics (a median, the
reference quantiles of drift bins) in a few passes with bounded memory: each pass builds a
histogram of the candidate range, keeps only the bins holding the wanted ranks, and once a
bin holds at most ``limit`` values it collects and sorts them. Values equal to
``numpy.quantile``'s and ``pandas.Series.median``'s follow from the ranks.

numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np

#: Histogram bins per refinement level (12 bits of the range per pass).
BINS = 4096
#: A candidate bin with at most this many values is collected and sorted.
LIMIT = 100_000
#: After this many levels the remaining values are collected whatever their number.
MAX_DEPTH = 5


@dataclass
class Moments:
    """Count, mean and sum of squared deviations, mergeable batch by batch."""

    count: int = 0
    mean: float = 0.0
    m2: float = 0.0

    def add(self, values: np.ndarray) -> None:
        """Merge a batch of finite values."""
        n = len(values)
        if n:
            mean = float(values.mean())
            self.merge(n, mean, float(((values - mean) ** 2).sum()))

    def merge(self, n: int, mean: float, m2: float = 0.0) -> None:
        """Merge another group given by its count, mean and M2 (0 for a constant)."""
        if n == 0:
            return
        total = self.count + n
        delta = mean - self.mean
        self.mean += delta * n / total
        self.m2 += m2 + delta * delta * self.count * n / total
        self.count = total

    def std(self, ddof: int = 0) -> float:
        """Standard deviation (population by default, as numpy)."""
        return float(np.sqrt(self.m2 / (self.count - ddof))) if self.count > ddof else 0.0


def _bin_index(values: np.ndarray, lo: float, hi: float, bins: int) -> np.ndarray:
    """Monotone bin index of finite values in ``[lo, hi]`` (clipped)."""
    if not hi > lo:
        return np.zeros(len(values), dtype=np.int64)
    index = ((values - lo) * (bins / (hi - lo))).astype(np.int64)
    return np.clip(index, 0, bins - 1)


@dataclass
class _Node:
    """A candidate range: values passing ``path`` (nested bin filters), ranks within it."""

    path: list[tuple[float, float, int]]
    lo: float
    hi: float
    count: int
    ranks: list[tuple[int, int]]  # (rank within this range, rank among all values)
    depth: int = 0
    hist: np.ndarray | None = None
    collected: list[np.ndarray] = field(default_factory=list)
    low_seen: float = np.inf
    high_seen: float = -np.inf

    @property
    def collecting(self) -> bool:
        return self.count <= LIMIT or self.depth >= MAX_DEPTH

    def select(self, values: np.ndarray) -> np.ndarray:
        for lo, hi, b in self.path:
            values = values[_bin_index(values, lo, hi, BINS) == b]
        return values


class RankSelector:
    """Exact order statistics of several columns over repeated streaming passes.

    Feed every pass the non-NaN values of the :attr:`pending` columns, batch by batch, then
    call :meth:`end_pass`; repeat while :attr:`pending` is not empty. Infinite values are
    counted apart (they sort first or last).

    Args:
        ranks: 0-based ranks wanted per column.
        stats: ``(finite count, finite min, finite max, count of -inf)`` per column.
    """

    def __init__(
        self, ranks: dict[str, Iterable[int]], stats: dict[str, tuple[int, float, float, int]]
    ) -> None:
        self.values: dict[str, dict[int, float]] = {c: {} for c in ranks}
        self._nodes: dict[str, list[_Node]] = {}
        for column, wanted in ranks.items():
            count, low, high, neg_inf = stats[column]
            inner = []
            for rank in sorted(set(int(r) for r in wanted)):
                if rank < neg_inf:
                    self.values[column][rank] = -np.inf
                elif rank >= neg_inf + count:
                    self.values[column][rank] = np.inf
                else:
                    inner.append((rank - neg_inf, rank))
            if inner:
                self._nodes[column] = [_Node([], low, high, count, inner)]

    @property
    def pending(self) -> list[str]:
        """Columns that need another pass."""
        return [c for c, nodes in self._nodes.items() if nodes]

    def feed(self, column: str, values: np.ndarray) -> None:
        """Add one batch of a pending column's non-NaN values (infinities are ignored)."""
        values = values[np.isfinite(values)]
        for node in self._nodes.get(column, ()):
            picked = node.select(values)
            if not len(picked):
                continue
            if node.collecting:
                node.collected.append(picked)
                continue
            counts = np.bincount(_bin_index(picked, node.lo, node.hi, BINS), minlength=BINS)
            node.hist = counts if node.hist is None else node.hist + counts
            node.low_seen = min(node.low_seen, float(picked.min()))
            node.high_seen = max(node.high_seen, float(picked.max()))

    def end_pass(self) -> None:
        """Resolve collected ranges; split histogrammed ones into the bins holding ranks."""
        for column, nodes in self._nodes.items():
            nxt: list[_Node] = []
            for node in nodes:
                nxt += self._resolve(column, node)
            self._nodes[column] = nxt

    def _resolve(self, column: str, node: _Node) -> list[_Node]:
        if node.collecting:
            ordered = np.sort(np.concatenate(node.collected)) if node.collected else np.empty(0)
            for rank, overall in node.ranks:
                self.values[column][overall] = float(ordered[rank])
            return []
        if node.low_seen == node.high_seen:  # ties: every candidate is the same value
            for _, overall in node.ranks:
                self.values[column][overall] = node.low_seen
            return []
        assert node.hist is not None
        cum = np.cumsum(node.hist)
        children: dict[int, _Node] = {}
        width = (node.hi - node.lo) / BINS
        for rank, overall in node.ranks:
            b = int(np.searchsorted(cum, rank, side="right"))
            before = int(cum[b - 1]) if b else 0
            child = children.get(b)
            if child is None:
                child = _Node(
                    [*node.path, (node.lo, node.hi, b)],
                    node.lo + b * width,
                    node.lo + (b + 1) * width,
                    int(node.hist[b]),
                    [],
                    node.depth + 1,
                )
                children[b] = child
            child.ranks.append((rank - before, overall))
        return list(children.values())

    def result(self, column: str, ranks: Iterable[int]) -> np.ndarray:
        """The values at ``ranks`` (after the passes are done)."""
        found = self.values[column]
        return np.asarray([found[int(r)] for r in ranks], dtype=np.float64)


def run_passes(
    selector: RankSelector, read: Callable[[list[str]], Iterable[dict[str, np.ndarray]]]
) -> None:
    """Drive ``selector``: ``read(columns)`` yields ``{column: non-NaN values}`` per batch."""
    while selector.pending:
        columns = selector.pending
        for batch in read(columns):
            for column in columns:
                selector.feed(column, batch[column])
        selector.end_pass()


def median_ranks(n: int) -> list[int]:
    """The one or two middle ranks of ``n`` sorted values."""
    return sorted({(n - 1) // 2, n // 2}) if n else []


def median_of(values: np.ndarray) -> float:
    """The median from :func:`median_ranks`' values (the mean of the two middle ones)."""
    return float(np.mean(values)) if len(values) else float("nan")


def quantile_ranks(n: int, qs: np.ndarray) -> list[int]:
    """Ranks ``numpy.quantile`` (linear) interpolates between, for ``n`` values."""
    virtual = _virtual_index(n, qs)
    lower = np.floor(virtual).astype(np.int64)
    return sorted({int(r) for r in np.concatenate([lower, np.minimum(lower + 1, n - 1)])})


def _virtual_index(n: int, qs: np.ndarray) -> np.ndarray:
    # numpy's "linear" method, written as numpy computes it.
    return np.clip((n - 1) * qs, 0, n - 1)


def quantiles_from(n: int, qs: np.ndarray, value_at: Callable[[int], float]) -> np.ndarray:
    """``numpy.quantile(values, qs)`` from the order statistics ``value_at(rank)``."""
    virtual = _virtual_index(n, qs)
    lower = np.floor(virtual).astype(np.int64)
    gamma = virtual - lower
    a = np.asarray([value_at(int(r)) for r in lower])
    b = np.asarray([value_at(int(min(r + 1, n - 1))) for r in lower])
    diff = b - a
    with np.errstate(invalid="ignore"):
        out = a + diff * gamma
        out = np.where(gamma >= 0.5, b - diff * (1 - gamma), out)
    return np.where(a == b, a, out)
