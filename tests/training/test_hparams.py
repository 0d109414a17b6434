"""The one hyper-parameter record: coercion, typos, tuning overrides, the worker config."""

import dataclasses

import pytest

from kfp_mlops.components.common.errors import ParameterError
from kfp_mlops.components.training.hparams import TUNABLE, HyperParams
from kfp_mlops.components.training.train_model.config import WorkerConfig


def test_kfp_strings_are_coerced():
    hp = HyperParams.from_params({"hidden_units": "128,64", "epochs": "3", "dropout": 0})
    assert hp.hidden_units == [128, 64] and hp.epochs == 3 and hp.dropout == 0.0
    assert isinstance(hp.dropout, float)


def test_typos_and_wrong_types_are_refused():
    with pytest.raises(ParameterError, match="unknown hyper-parameters \\['learning_rte'\\]"):
        HyperParams.from_params({"learning_rte": 1e-3})
    with pytest.raises(ParameterError, match="batch_size='big' is not a int"):
        HyperParams.from_params({"batch_size": "big"})


def test_tuning_result_overrides_only_tunable_keys():
    hp = HyperParams(epochs=7).merged({"learning_rate": 0.01, "epochs": 99, "score": 0.9})
    assert hp.learning_rate == 0.01 and hp.epochs == 7
    assert set(TUNABLE) <= set(HyperParams.names())


def test_worker_config_declares_no_hyper_parameter_of_its_own():
    assert issubclass(WorkerConfig, HyperParams)
    defaults = {f.name: f.default for f in dataclasses.fields(WorkerConfig)}
    assert defaults["epochs"] == HyperParams.epochs and defaults["seed"] == HyperParams.seed
    cfg = WorkerConfig(
        **HyperParams(batch_size=16).to_dict(),
        train_path="t",
        validation_path="v",
        output_dir="o",
        log_dir="l",
        checkpoint_dir="c",
        num_classes=2,
    )
    assert cfg.batch_size == 16 and cfg.to_dict() == HyperParams(batch_size=16).to_dict()
