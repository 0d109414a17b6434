"""pip-audit as `make lint` runs it: fail on a known vulnerability, say plainly when no verdict.

`make audit` is the strict form (every package must be audited). Here a vulnerability fails
lint unless its id is accepted in .ci/pip-audit-accepted.txt (one id per line, then the
reason); packages the vulnerability service cannot be reached for are reported as not
audited instead of passing silently (pip-audit alone prints "No known vulnerabilities found"
after auditing nothing).

    python .ci/audit.py [pip-audit args...]
"""

from __future__ import annotations

import json
import subprocess  # nosec B404 - runs pip-audit from the same env, no shell
import sys
import tempfile
from pathlib import Path

ACCEPTED = Path(__file__).with_name("pip-audit-accepted.txt")


def accepted_ids(path: Path = ACCEPTED) -> dict[str, str]:
    """Accepted vulnerability ids and their reasons (``ID reason...`` lines, ``#`` comments)."""
    if not path.exists():
        return {}
    ids = {}
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            vid, _, reason = line.partition(" ")
            ids[vid] = reason.strip()
    return ids


def verdict(report: dict, accepted: dict[str, str]) -> tuple[int, list[str]]:
    """Exit code and lines to print for a pip-audit JSON report."""
    deps = report.get("dependencies", [])
    skipped = [d for d in deps if "skip_reason" in d]
    audited = [d for d in deps if "skip_reason" not in d]
    lines, failing = [], []
    for dep in audited:
        for vuln in dep.get("vulns", []):
            aliases = {vuln["id"], *vuln.get("aliases", [])}
            known = sorted(aliases & set(accepted))
            if known:
                lines.append(
                    f"accepted: {dep['name']} {dep['version']} {known[0]}: {accepted[known[0]]}"
                )
            else:
                fixes = ", ".join(vuln.get("fix_versions") or []) or "none yet"
                failing.append(f"{dep['name']} {dep['version']} {vuln['id']} (fixed in: {fixes})")
    lines += [f"VULNERABLE: {f}" for f in failing]
    if skipped and not audited:
        lines.append(
            f"pip-audit: NO VERDICT: none of the {len(deps)} packages could be audited "
            f"(first: {skipped[0]['skip_reason']}); the vulnerability service is unreachable "
            "from here. Run `make audit` where pypi.org's JSON API or osv.dev answers."
        )
    elif skipped:
        lines.append(
            f"pip-audit: {len(skipped)} of {len(deps)} packages not audited: "
            + ", ".join(d["name"] for d in skipped[:10])
        )
    if audited and not failing:
        lines.append(f"pip-audit: {len(audited)} packages audited, no unaccepted vulnerability")
    return (1 if failing else 0), lines


def main(argv: list[str]) -> int:
    """Run pip-audit from this interpreter's env and print the verdict."""
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "audit.json"
        cmd = [
            sys.executable,
            "-m",
            "pip_audit",
            "--skip-editable",
            "--progress-spinner",
            "off",
            "-f",
            "json",
            "-o",
            str(out),
            *argv,
        ]
        proc = subprocess.run(cmd, capture_output=True, text=True, check=False)  # nosec B603
        if not out.exists():
            # No report at all: the service could not even be asked (DNS, proxy).
            last = (proc.stderr.strip().splitlines() or ["no output"])[-1]
            print(
                f"pip-audit: NO VERDICT: it could not run to the end ({last[:300]}); "
                "run `make audit` where the vulnerability service is reachable"
            )
            return 0
        code, lines = verdict(json.loads(out.read_text(encoding="utf-8")), accepted_ids())
    print("\n".join(lines))
    return code


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
