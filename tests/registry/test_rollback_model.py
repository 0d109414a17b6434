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


def _two_champions(mlflow_server, name, make_model_dir, evaluation) -> None:
    for i, content in enumerate((b"good-v1", b"bad-v2")):
        version = register(
            make_model_dir(content, f"m{i}"),
            evaluation,
            tracking_uri=mlflow_server,
            name=name,
            blessed=True,
        ).version
        promote(mlflow_server, name, version)


def test_plan_changes_nothing_and_no_previous_is_a_user_error(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    from kfp_mlops.components.common.errors import UserError
    from kfp_mlops.components.registry.rollback_model.core import NoPreviousVersionError, plan

    _two_champions(mlflow_server, fresh_name, make_model_dir, evaluation)
    assert plan(mlflow_server, fresh_name) == type(plan(mlflow_server, fresh_name))(
        fresh_name, "1", "2"
    )
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == "2"
    rollback(mlflow_server, fresh_name)
    with pytest.raises(NoPreviousVersionError, match="nothing was changed") as info:
        plan(mlflow_server, fresh_name)
    assert isinstance(info.value, UserError)
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == "1"


def test_rollback_refuses_when_the_champion_moved_since_the_plan(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    from kfp_mlops.components.registry.rollback_model.core import Rollback

    _two_champions(mlflow_server, fresh_name, make_model_dir, evaluation)
    stale = Rollback(fresh_name, "1", "3")
    with pytest.raises(common.RegistryError, match="changed during the rollback"):
        rollback(mlflow_server, fresh_name, expected=stale)
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == "2"
    assert ROLLED_BACK_TAG not in common.model_version(mlflow_server, fresh_name, "2").tags


def test_alias_only_rollback_records_the_recovery(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    from kfp_mlops.components.registry.rollback_model import record
    from kfp_mlops.components.registry.rollback_model.redeploy import (
        Settings,
        rollback_and_redeploy,
    )
    from kfp_mlops.components.registry.rollback_model.report import report_markdown

    _two_champions(mlflow_server, fresh_name, make_model_dir, evaluation)
    result = rollback_and_redeploy(mlflow_server, fresh_name, Settings(target="none"))
    assert (result.registry.version, result.registry.demoted) == ("1", "2")
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == "1"
    run = common.client(mlflow_server).get_run(result.details["mlflow_run_id"])
    assert run.data.tags[record.EVENT_TAG] == "rollback"
    assert run.data.tags["kfp-mlops.from_version"] == "2"
    assert run.data.metrics["recovery_time_s"] == pytest.approx(result.recovery_time_s)
    assert "v2 -> v1" in report_markdown(result, fresh_name)


def test_bad_settings_fail_before_the_registry_is_touched(mlflow_server, fresh_name):
    from kfp_mlops.components.common.errors import ParameterError
    from kfp_mlops.components.registry.rollback_model.redeploy import (
        Settings,
        rollback_and_redeploy,
    )

    with pytest.raises(ParameterError, match="target 'kserve'"):
        rollback_and_redeploy(closed_port_uri(), fresh_name, Settings(target="kserve"))
    with pytest.raises(ParameterError, match="needs state_dir"):
        rollback_and_redeploy(closed_port_uri(), fresh_name, Settings(state_dir=""))
    with pytest.raises(ParameterError, match="max_error_rate"):
        rollback_and_redeploy(
            mlflow_server, fresh_name, Settings(target="none", max_error_rate=2.0)
        )
