"""The pip-audit verdict `make lint` prints (.ci/audit.py), on pip-audit's JSON report format."""

from __future__ import annotations

import importlib.util
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit.py")
audit = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(audit)

VULN = {"id": "PYSEC-2099-1", "aliases": ["GHSA-xxxx-yyyy-zzzz"], "fix_versions": ["2.0"]}


def report(*deps):
    return {"dependencies": list(deps), "fixes": []}


def test_an_unaccepted_vulnerability_fails_and_names_the_fix():
    code, lines = audit.verdict(
        report(
            {"name": "foo", "version": "1.0", "vulns": [VULN]},
            {"name": "bar", "version": "2", "vulns": []},
        ),
        {},
    )
    assert code == 1
    assert "VULNERABLE: foo 1.0 PYSEC-2099-1 (fixed in: 2.0)" in lines


def test_an_accepted_alias_passes_with_its_reason():
    code, lines = audit.verdict(
        report({"name": "foo", "version": "1.0", "vulns": [VULN]}),
        {"GHSA-xxxx-yyyy-zzzz": "not reachable from our code"},
    )
    assert code == 0
    assert any("accepted: foo 1.0 GHSA-xxxx-yyyy-zzzz: not reachable" in line for line in lines)


def test_nothing_audited_is_no_verdict_not_a_pass():
    code, lines = audit.verdict(
        report({"name": "absl-py", "skip_reason": "Dependency not found on PyPI"}), {}
    )
    assert code == 0
    assert lines[-1].startswith("pip-audit: NO VERDICT")
    assert not any("no unaccepted vulnerability" in line for line in lines)


def test_partly_audited_names_what_was_skipped():
    code, lines = audit.verdict(
        report(
            {"name": "ok", "version": "1", "vulns": []},
            {"name": "private-pkg", "skip_reason": "not on PyPI"},
        ),
        {},
    )
    assert code == 0
    assert "1 of 2 packages not audited: private-pkg" in lines[0]
    assert lines[-1] == "pip-audit: 1 packages audited, no unaccepted vulnerability"


def test_accepted_file_format(tmp_path):
    path = tmp_path / "accepted.txt"
    path.write_text("# comment\nPYSEC-1 reason one  # trailing\n\nGHSA-2 reason two\n")
    assert audit.accepted_ids(path) == {"PYSEC-1": "reason one", "GHSA-2": "reason two"}
    assert audit.accepted_ids(audit.ACCEPTED) == {}
