"""Move ``champion`` back to the version it replaced (the ``previous_champion`` tag).

:func:`plan` finds the two versions without changing anything; :func:`rollback` moves the
alias. ``redeploy.py`` puts the previous version back on the serving target between the two,
so the alias only moves once that version serves and passed its smoke test.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from kfp_mlops.components.common.errors import UserError
from kfp_mlops.components.registry import common

log = logging.getLogger(__name__)

#: Tag set on a version that was rolled back, naming the version that replaced it.
ROLLED_BACK_TAG = "rolled_back_to"


class NoPreviousVersionError(common.RegistryError, UserError):
    """There is no champion, or no earlier champion to roll back to: nothing was changed."""


@dataclass
class Rollback:
    """What :func:`rollback` did (or, from :func:`plan`, will do)."""

    name: str
    version: str
    demoted: str


def plan(tracking_uri: str, name: str) -> Rollback:
    """The champion now and the version a rollback returns to; changes nothing.

    Raises:
        RegistryError: If the registry is unreachable.
        NoPreviousVersionError: If there is no champion, or the champion has no recorded
            previous champion (it was the first one, or was set by hand), or that version
            was deleted.
    """
    common.check_registry(tracking_uri)
    current = common.alias_version(tracking_uri, name, common.CHAMPION)
    if current is None:
        raise NoPreviousVersionError(
            f"model '{name}' has no '{common.CHAMPION}' at {tracking_uri}: nothing to roll back",
            "promote a version first (promote_model); nothing was changed",
        )
    previous = (current.tags or {}).get(common.PREVIOUS_CHAMPION_TAG)
    if not previous:
        raise NoPreviousVersionError(
            f"champion v{current.version} of '{name}' has no '{common.PREVIOUS_CHAMPION_TAG}' "
            "tag: there is no earlier champion to roll back to",
            "promote a known-good version explicitly with promote_model(version=...); "
            "nothing was changed",
        )
    try:
        common.model_version(tracking_uri, name, previous)
    except common.RegistryError as exc:
        raise NoPreviousVersionError(
            f"the previous champion v{previous} of '{name}' (tag '{common.PREVIOUS_CHAMPION_TAG}' "
            f"of v{current.version}) no longer exists at {tracking_uri}",
            "promote a known-good version explicitly with promote_model(version=...); "
            "nothing was changed",
        ) from exc
    return Rollback(name, str(previous), str(current.version))


def rollback(tracking_uri: str, name: str, expected: Rollback | None = None) -> Rollback:
    """Point ``champion`` at the previous champion and tag the demoted version.

    The demoted version gets a ``rolled_back_to`` tag; it keeps its other aliases.

    Args:
        tracking_uri: MLflow server.
        name: Registered model name.
        expected: The :func:`plan` this rollback carries out; if the champion moved since,
            nothing is changed.

    Raises:
        RegistryError: If the registry is unreachable, or the champion changed since
            ``expected`` was planned.
        NoPreviousVersionError: As :func:`plan`.
    """
    planned = plan(tracking_uri, name)
    if expected is not None and planned != expected:
        raise common.RegistryError(
            f"the champion of '{name}' changed during the rollback (planned v{expected.demoted}"
            f" -> v{expected.version}, now v{planned.demoted} -> v{planned.version})",
            "another run promoted a version meanwhile: check the registry and run again",
        )
    client = common.client(tracking_uri)
    client.set_registered_model_alias(name, common.CHAMPION, planned.version)
    client.set_model_version_tag(name, planned.demoted, ROLLED_BACK_TAG, planned.version)
    log.info("%s: champion rolled back v%s -> v%s", name, planned.demoted, planned.version)
    return planned
