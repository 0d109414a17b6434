"""Move ``champion`` back to the version it replaced (the ``previous_champion`` tag)."""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kfp_mlops.components.registry import common

log = logging.getLogger(__name__)

#: Tag set on a version that was rolled back, naming the version that replaced it.
ROLLED_BACK_TAG = "rolled_back_to"


@dataclass
class Rollback:
    """What :func:`rollback` did."""

    name: str
    version: str
    demoted: str


def rollback(tracking_uri: str, name: str) -> Rollback:
    """Point ``champion`` at the previous champion and tag the demoted version.

    The demoted version gets a ``rolled_back_to`` tag; it keeps its other aliases.

    Raises:
        RegistryError: If the registry is unreachable, there is no champion, or the champion
            has no recorded previous champion (it was the first one, or was set by hand).
    """
    common.check_registry(tracking_uri)
    current = common.alias_version(tracking_uri, name, common.CHAMPION)
    if current is None:
        raise common.RegistryError(
            f"model '{name}' has no '{common.CHAMPION}' at {tracking_uri}: nothing to roll back",
            "promote a version first (promote_model)",
        )
    previous = (current.tags or {}).get(common.PREVIOUS_CHAMPION_TAG)
    if not previous:
        raise common.RegistryError(
            f"champion v{current.version} of '{name}' has no '{common.PREVIOUS_CHAMPION_TAG}' "
            "tag: there is no earlier champion to roll back to",
            "promote a known-good version explicitly with promote_model(version=...)",
        )
    common.model_version(tracking_uri, name, previous)  # it must still exist
    client = common.client(tracking_uri)
    client.set_registered_model_alias(name, common.CHAMPION, previous)
    client.set_model_version_tag(name, str(current.version), ROLLED_BACK_TAG, previous)
    log.info("%s: champion rolled back v%s -> v%s", name, current.version, previous)
    return Rollback(name, previous, str(current.version))
