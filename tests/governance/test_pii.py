"""Personal-data detection by column name and by value patterns."""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd
import pytest

from kfp_mlops.components.governance.audit_model import pii

NOW = datetime(2026, 12, 1)
N = 60


def _flags(frame: pd.DataFrame) -> dict[str, pii.PersonalColumn]:
    return {p.column: p for p in pii.detect(frame, now=NOW).flagged}


def _dates(start: str, days: int, seed: int) -> pd.Series:
    rng = np.random.default_rng(seed)
    return pd.Series(pd.Timestamp(start) + pd.to_timedelta(rng.integers(0, days, N), unit="D"))


def test_email_found_by_name_and_by_values_under_another_name():
    frame = pd.DataFrame(
        {
            "email": [f"user{i}@example.com" for i in range(N)],
            "contact": [f"first.last{i}@mail.example.org" for i in range(N)],
            "score": np.linspace(0, 1, N),
        }
    )
    flags = _flags(frame)
    assert set(flags) == {"email", "contact"}
    assert flags["email"].by == "name and values"
    assert flags["contact"].by == "values" and flags["contact"].category == "email"
    assert flags["contact"].match_share == 1.0


def test_email_opt_in_booleans_are_not_personal_data():
    rng = np.random.default_rng(0)
    frame = pd.DataFrame(
        {
            "email_opt_in": rng.integers(0, 2, N).astype(bool),
            "emailOptIn01": rng.integers(0, 2, N),  # 0/1 integers, camelCase name
            "email_count": rng.integers(0, 40, N),  # counts, not addresses
        }
    )
    found = pii.detect(frame, now=NOW)
    assert found.flagged == []
    assert "booleans" in found.cleared["email_opt_in"]
    assert "booleans" in found.cleared["emailOptIn01"]
    assert "email_count" in found.cleared


def test_names_by_column_name_only_for_people():
    frame = pd.DataFrame(
        {
            "first_name": [f"Ann{i}" for i in range(N)],
            "customerName": [f"Bo {i}" for i in range(N)],
            "product_name": [f"widget {i}" for i in range(N)],
            "name": [f"Cy {i}" for i in range(N)],
        }
    )
    flags = _flags(frame)
    assert set(flags) == {"first_name", "customerName", "name"}
    assert {p.category for p in flags.values()} == {"name"}


def test_phone_numbers_and_plain_numbers():
    frame = pd.DataFrame(
        {
            "mobile": [f"+44 7700 900{i:03d}" for i in range(N)],
            "col_a": [f"(555) 123-{i:04d}" for i in range(N)],
            "order_id": [f"{1000000 + i}" for i in range(N)],  # digits without format
            "ratio": [f"{1234.5678 + i}" for i in range(N)],
            "tel": np.arange(N) + 447700900000,  # integers long enough to be numbers
        }
    )
    flags = _flags(frame)
    assert set(flags) == {"mobile", "col_a", "tel"}
    assert flags["col_a"].by == "values" and flags["col_a"].category == "phone"
    assert flags["tel"].by == "name"


def test_national_ids_by_pattern_with_checksums():
    frame = pd.DataFrame(
        {
            "x1": [f"{100 + i:03d}-45-{1000 + i}" for i in range(N)],  # SSN
            "x2": ["DE89 3704 0044 0532 0130 00", "GB82 WEST 1234 5698 7654 32"] * (N // 2),
            "x3": ["DE89 3704 0044 0532 0130 01"] * N,  # IBAN shape, wrong checksum
            "x4": ["JG103765A", "AB 12 34 56 D"] * (N // 2),  # UK NINO
            "x5": ["4111 1111 1111 1111", "5500-0000-0000-0004"] * (N // 2),  # Luhn-valid
        }
    )
    flags = _flags(frame)
    assert set(flags) == {"x1", "x2", "x4", "x5"}
    assert all(p.category == "national_id" and p.sensitive for p in flags.values())
    assert "SSN" in flags["x1"].detail and "IBAN" in flags["x2"].detail
    assert "Luhn" in flags["x5"].detail


def test_birth_dates_vs_plain_dates():
    frame = pd.DataFrame(
        {
            "date_of_birth": _dates("1950-01-01", 365 * 50, 1),
            "col_b": _dates("1945-01-01", 365 * 55, 2).dt.strftime("%Y-%m-%d"),
            "signup_date": _dates("2025-01-01", 600, 3).dt.strftime("%Y-%m-%d"),
            "order_ts": _dates("2024-06-01", 300, 4),
            "birth_year": np.random.default_rng(5).integers(1950, 2000, N),
        }
    )
    found = pii.detect(frame, now=NOW)
    flags = {p.column: p for p in found.flagged}
    assert set(flags) == {"date_of_birth", "col_b"}
    assert flags["date_of_birth"].by == "name and values"
    assert flags["col_b"].by == "values" and flags["col_b"].category == "birth_date"
    assert "no dates" in found.cleared["birth_year"]


def test_birth_named_dates_are_flagged_even_when_recent():
    # Children's birth dates do not look like adults' but the name says what they are.
    frame = pd.DataFrame({"dob": _dates("2015-01-01", 3000, 6)})
    assert _flags(frame)["dob"].by == "name"


def test_sample_bounds_the_work_and_nulls_are_ignored():
    emails = [f"u{i}@example.com" for i in range(5000)]
    frame = pd.DataFrame({"c": emails + [None] * 100})
    found = pii.detect(frame, sample_rows=50, now=NOW)
    assert found.columns == ["c"] and found.sample_rows == 50


@pytest.mark.parametrize(
    ("name", "tokens"),
    [("customerEmail_2", ["customer", "email"]), ("E-Mail", ["e", "mail"]), ("SSN", ["ssn"])],
)
def test_name_tokens(name, tokens):
    assert pii.name_tokens(name) == tokens


def test_categorical_and_nested_cells_are_screened():
    frame = pd.DataFrame(
        {
            "c": pd.Categorical([f"u{i % 7}@example.com" for i in range(N)]),
            "tags": [["a", "b"]] * N,  # list cells (Parquet allows them)
            "contact_email": [[f"u{i}@example.com"] for i in range(N)],
        }
    )
    flags = _flags(frame)
    assert flags["c"].category == "email" and flags["c"].by == "values"
    assert "tags" not in flags
    assert flags["contact_email"].by == "name"
