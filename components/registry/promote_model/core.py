"""Point the ``champion`` alias at a registered version, remembering the one it replaces.

MLflow 3 aliases replace the deprecated stages: an alias names exactly one version and
moves atomically. The replaced champion is stored in the new champion's
``previous_champion`` model-version tag, which is all ``rollback_model`` needs.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kfp_mlops.components.registry import common

log = logging.getLogger(__name__)


@dataclass
class Promotion:
    """What :func:`promote` did: the new champion and the one it replaced (if any)."""

    name: str
    version: str
    previous: str | None
    changed: bool


def promote(tracking_uri: str, name: str, version: str = "") -> Promotion:
    """Move ``champion`` to ``version`` (default: the current ``challenger``).

    Promoting the version that already is champion changes nothing (its
    ``previous_champion`` tag is kept, so rollback still works).

    Args:
        tracking_uri: MLflow server.
        name: Registered model name.
        version: Version to promote; empty means the version with the ``challenger`` alias.

    Raises:
        RegistryError: If the registry is unreachable, or the version (or challenger) does
            not exist.
    """
    common.check_registry(tracking_uri)
    if not str(version).strip():
        challenger = common.alias_version(tracking_uri, name, common.CHALLENGER)
        if challenger is None:
            raise common.RegistryError(
                f"no version was given and model '{name}' has no '{common.CHALLENGER}' alias "
                f"at {tracking_uri}",
                "pass the version that register_model returned",
            )
        version = challenger.version
    target = common.model_version(tracking_uri, name, str(version))
    current = common.alias_version(tracking_uri, name, common.CHAMPION)
    if current is not None and str(current.version) == str(target.version):
        log.info("%s v%s already is %s", name, target.version, common.CHAMPION)
        return Promotion(name, str(target.version), None, changed=False)
    client = common.client(tracking_uri)
    previous = str(current.version) if current is not None else None
    if previous is not None:
        client.set_model_version_tag(
            name, str(target.version), common.PREVIOUS_CHAMPION_TAG, previous
        )
    else:
        # A stale tag (e.g. from an earlier promotion of this version) must not survive.
        try:
            client.delete_model_version_tag(name, str(target.version), common.PREVIOUS_CHAMPION_TAG)
        except Exception:
            log.debug("no %s tag to clear", common.PREVIOUS_CHAMPION_TAG)
    client.set_registered_model_alias(name, common.CHAMPION, str(target.version))
    log.info("%s: champion v%s -> v%s", name, previous, target.version)
    return Promotion(name, str(target.version), previous, changed=True)
