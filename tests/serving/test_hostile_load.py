"""One client posting maximum-size requests must not stall the others (bounded in count and
time, loopback only). No timing assertion: the benchmark's ``hostile`` case prints p99 alone
vs next to max-size clients; here every answer must come back, and be right."""

from __future__ import annotations

import pytest

from benchmarks.bench_serving import hostile_load


@pytest.mark.slow
def test_single_row_clients_keep_their_answers_next_to_max_size_clients(models, serve):
    url = serve(models.tflite, models.preprocessor)  # the default limits: 8 MiB, 10,000 rows
    result = hostile_load(url, "clf", models.rows(50), singles=300, seconds=10)
    p50, p99 = result.p(50), result.p(99)
    print(f"single-row p50 {p50:.1f} ms, p99 {p99:.1f} ms next to {result.big_answers} max-size")
    assert len(result.single_ms) == 300
    assert result.single_wrong == []
    assert result.big_wrong == []
    assert all(n >= 1 for n in result.big_answers), result.big_answers
    # The max-size requests really were at the limits: 10,000 V2 rows, V1 just under 8 MiB.
    assert result.big_rows[1] == 10_000 and result.big_rows[0] > 5_000
