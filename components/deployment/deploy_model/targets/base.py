"""What every target shares: a :class:`Release` and the :class:`Target` interface."""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass
from typing import Any

from kfp_mlops.components.deployment.deploy_model import manifests as m


@dataclass
class Release:
    """One version of one model.

    Attributes:
        name: Service and model name (Kubernetes-safe).
        version: Content version (``bundle.version_of``).
        model_dir: Local Model artifact directory (local target).
        preprocessor: Local preprocessor JSON (local target).
        backend: Server backend: auto, keras or tflite.
        spec: InferenceService settings (cluster and GitOps targets).
        manifest: An InferenceService object to apply as it is instead of rendering ``spec``
            (the cluster target's rollback re-applies a recorded spec this way).
    """

    name: str
    version: str
    model_dir: str = ""
    preprocessor: str = ""
    backend: str = "auto"
    spec: m.ServingSpec | None = None
    manifest: dict[str, Any] | None = None


class Target(ABC):
    """Operations a strategy needs; each target implements them its own way."""

    kind = ""
    #: False when nothing can be measured from here (GitOps): checks are recorded, not run.
    live_checks = True

    @abstractmethod
    def live(self) -> Release | None:
        """The version serving traffic now, or ``None``."""

    @abstractmethod
    def start(self, release: Release, strategy: str) -> None:
        """Bring ``release`` up: beside the live one (canary, blue-green) or in its place."""

    @abstractmethod
    def wait_ready(self, release: Release, timeout_s: float) -> None:
        """Block until ``release`` is ready; raise :class:`ReadyTimeout` otherwise."""

    @abstractmethod
    def endpoint(self, release: Release) -> str | None:
        """Base URL reaching ``release`` alone (for smoke tests); ``None`` if unreachable."""

    @abstractmethod
    def route_url(self) -> str | None:
        """Base URL of the service as clients see it (traffic split applies)."""

    @abstractmethod
    def set_traffic(self, release: Release, percent: int) -> None:
        """Send ``percent`` % of the service's traffic to ``release``, the rest to the live one."""

    @abstractmethod
    def promote(self, release: Release) -> None:
        """Make ``release`` the live version and retire the previous one."""

    @abstractmethod
    def rollback(self, release: Release, previous: Release | None) -> None:
        """Remove ``release``; ``previous`` (if any) serves all traffic again."""

    def close(self) -> None:  # noqa: B027 - optional hook
        """Release anything a failed or finished deployment left (called in ``finally``)."""
