"""Tests of rollback_model against a real MLflow server."""

from __future__ import annotations

from pathlib import Path

import pytest

from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.register_model.core import register
from kfp_mlops.components.registry.rollback_model.core import ROLLED_BACK_TAG, rollback
from tests.mlflow_server import closed_port_uri


def test_rollback_restores_the_previous_champion(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    versions = [
        register(
            make_model_dir(content, f"m{i}"),
            evaluation,
            tracking_uri=mlflow_server,
            name=fresh_name,
            blessed=True,
        ).version
        for i, content in enumerate((b"good-v1", b"bad-v2"))
    ]
    promote(mlflow_server, fresh_name, versions[0])
    promote(mlflow_server, fresh_name, versions[1])

    result = rollback(mlflow_server, fresh_name)
    assert (result.version, result.demoted) == ("1", "2")
    champion = common.alias_version(mlflow_server, fresh_name, common.CHAMPION)
    assert champion.version == "1"
    demoted = common.model_version(mlflow_server, fresh_name, "2")
    assert demoted.tags[ROLLED_BACK_TAG] == "1"
    # What evaluate_model (and serving) load is v1's directory again.
    restored = Path(common.load_registered(mlflow_server, fresh_name, common.CHAMPION))
    assert (restored / "model.h5").read_bytes() == b"good-v1"

    # v1 was the first champion: there is nothing earlier to roll back to.
    with pytest.raises(common.RegistryError, match="no 'previous_champion' tag"):
        rollback(mlflow_server, fresh_name)


def test_rollback_without_a_champion_is_a_clear_error(mlflow_server, fresh_name):
    with pytest.raises(common.RegistryError, match="has no 'champion'.*promote a version first"):
        rollback(mlflow_server, fresh_name)


def test_rollback_on_an_unreachable_registry_names_the_uri():
    uri = closed_port_uri()
    with pytest.raises(common.RegistryError, match="unreachable") as info:
        rollback(uri, "any")
    assert uri in str(info.value)
