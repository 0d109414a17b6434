"""Tests of the shared report helpers: number formatting and the HTML page."""

import math

import numpy as np
import pytest

from kfp_mlops.components.common import report


@pytest.mark.parametrize(
    ("value", "significant", "fixed"),
    [
        (None, "-", "-"),
        (math.nan, "-", "-"),
        (0.95, "0.95", "0.9500"),
        (0.123456, "0.1235", "0.1235"),
        (0.0, "0", "0.0000"),
        (2.5e-05, "2.5e-05", "2.5e-05"),  # fixed-point would print 0.0000
        (0.0012, "0.0012", "0.0012"),
        (123456.0, "1.235e+05", "123456.0000"),
        (np.float32(0.5), "0.5", "0.5000"),
        (256, "256", "256"),
        (np.int64(7), "7", "7"),
        (True, "True", "True"),
        ("relu", "relu", "relu"),
        (math.inf, "inf", "inf"),
    ],
)
def test_fmt_rounds_numbers_and_prints_the_rest(value, significant, fixed):
    assert report.fmt(value) == significant
    assert report.fmt(value, fixed=True) == fixed


def test_fmt_missing_text_and_digits():
    assert report.fmt(None, missing="n/a") == "n/a"
    assert report.fmt(float("nan"), missing="") == ""
    assert report.fmt(0.123456, 2) == "0.12"
    assert report.fmt(0.123456, 2, fixed=True) == "0.12"
    assert report.fmt(0.004, 2, fixed=True) == "0.004"  # below 10**-(2-1): significant digits


def test_page_is_self_contained_and_escaped(tmp_path):
    path = tmp_path / "r" / "report.html"
    body = report.table(["a", "b"], [["<x>", report.status(True)]], raw_columns=[1])
    report.write(str(path), "T & <T>", body)
    text = path.read_text(encoding="utf-8")
    assert "<title>T &amp; &lt;T&gt;</title>" in text
    assert "<td>&lt;x&gt;</td>" in text
    assert '<span class="ok">passed</span>' in text
    assert "http" not in text  # nothing loaded from elsewhere
