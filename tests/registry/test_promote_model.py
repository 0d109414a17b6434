"""Tests of promote_model against a real MLflow server."""

from __future__ import annotations

import pytest

from kfp_mlops.components.registry import common
from kfp_mlops.components.registry.promote_model.core import promote
from kfp_mlops.components.registry.register_model.core import register
from tests.mlflow_server import closed_port_uri


def register_versions(uri, name, make_model_dir, evaluation, count):
    return [
        register(
            make_model_dir(f"w{i}".encode(), f"m{i}"),
            evaluation,
            tracking_uri=uri,
            name=name,
            blessed=True,
        ).version
        for i in range(count)
    ]


def test_promote_moves_champion_and_remembers_the_previous_one(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    v1, v2 = register_versions(mlflow_server, fresh_name, make_model_dir, evaluation, 2)
    first = promote(mlflow_server, fresh_name, v1)
    assert (first.version, first.previous, first.changed) == (v1, None, True)
    assert common.alias_version(mlflow_server, fresh_name, common.CHAMPION).version == v1

    second = promote(mlflow_server, fresh_name, v2)
    assert (second.version, second.previous) == (v2, v1)
    champion = common.alias_version(mlflow_server, fresh_name, common.CHAMPION)
    assert champion.version == v2
    assert champion.tags[common.PREVIOUS_CHAMPION_TAG] == v1
    aliases = common.client(mlflow_server).get_registered_model(fresh_name).aliases
    assert aliases == {"champion": v2, "challenger": v2}


def test_promote_defaults_to_the_challenger(mlflow_server, fresh_name, make_model_dir, evaluation):
    _, v2 = register_versions(mlflow_server, fresh_name, make_model_dir, evaluation, 2)
    assert promote(mlflow_server, fresh_name).version == v2


def test_promoting_the_champion_again_changes_nothing(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    v1, v2 = register_versions(mlflow_server, fresh_name, make_model_dir, evaluation, 2)
    promote(mlflow_server, fresh_name, v1)
    promote(mlflow_server, fresh_name, v2)
    again = promote(mlflow_server, fresh_name, v2)
    assert not again.changed
    champion = common.alias_version(mlflow_server, fresh_name, common.CHAMPION)
    assert champion.tags[common.PREVIOUS_CHAMPION_TAG] == v1  # not overwritten with itself


def test_promote_errors_name_the_missing_version_or_challenger(
    mlflow_server, fresh_name, make_model_dir, evaluation
):
    with pytest.raises(common.RegistryError, match="no 'challenger' alias"):
        promote(mlflow_server, fresh_name)
    register_versions(mlflow_server, fresh_name, make_model_dir, evaluation, 1)
    with pytest.raises(common.RegistryError, match="no version '7'"):
        promote(mlflow_server, fresh_name, "7")


def test_promote_on_an_unreachable_registry_names_the_uri():
    uri = closed_port_uri()
    with pytest.raises(common.RegistryError, match="unreachable") as info:
        promote(uri, "any", "1")
    assert uri in str(info.value)
