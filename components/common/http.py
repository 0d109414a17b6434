"""One HTTP probe for the servers components fail fast on (MLflow above all).

Each caller keeps its own rule on top of the result: some accept any answer (the server is
up), some need a successful one.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class Probe:
    """What probing a server found.

    Attributes:
        answered: Some path got an HTTP answer (the server is up), even an error status.
        ok: Some path answered with a status below 400.
        detail: The last failure: ``HTTP <code>`` or the connection error's reason.
    """

    answered: bool
    ok: bool
    detail: str = ""


def probe(base_url: str, paths: Sequence[str] = ("/health",), timeout: float = 5.0) -> Probe:
    """GET ``base_url + path`` for each path until one answers below 400.

    Only ``http://`` and ``https://`` URLs are opened (the caller checks the scheme; other
    schemes raise ``ValueError`` here rather than reach ``urlopen``).
    """
    if not base_url.startswith(("http://", "https://")):
        raise ValueError(f"not an http(s) URL: {base_url!r}")
    base, answered, detail = base_url.rstrip("/"), False, ""
    for path in paths:
        try:
            with urllib.request.urlopen(base + path, timeout=timeout) as response:  # noqa: S310 - http(s) checked above  # nosec B310
                if response.status < 400:
                    return Probe(answered=True, ok=True)
                answered, detail = True, f"HTTP {response.status}"
        except urllib.error.HTTPError as exc:
            answered, detail = True, f"HTTP {exc.code}"
        except (urllib.error.URLError, OSError, ValueError) as exc:
            detail = str(getattr(exc, "reason", exc))
    return Probe(answered=answered, ok=False, detail=detail)
