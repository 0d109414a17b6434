"""Tasks that run no Keras model never import TensorFlow (17-20 s of every task's start-up).

The TFLite serving and evaluation path is covered in ``tests/serving/test_no_tensorflow.py``.
"""

from __future__ import annotations

from pathlib import Path

from tests.subprocess_json import run_json

HEAVY = ("tensorflow", "tf_keras", "keras")

DATA_STEPS = """
import json, sys
from pathlib import Path
from kfp_mlops.components.data.load_dataset.core import load_to
from kfp_mlops.components.data.validate_data import core as validate
from kfp_mlops.components.data.split_and_preprocess.core import split_to
from kfp_mlops.components.data.detect_drift.streaming import drift_between

work, heavy = Path(sys.argv[1]), tuple(sys.argv[2].split(","))
seen = {}
def note(step):
    seen[step] = sorted(m for m in heavy if m in sys.modules)
load_to("builtin:breast_cancer", str(work / "raw"))
note("load_dataset")
validate.validate_dataset(str(work / "raw"), target_column="target")
note("validate_data")
split_to(str(work / "raw"), {k: str(work / k) for k in ("train", "validation", "test")},
         target_column="target")
note("split_and_preprocess")
drift_between(str(work / "train"), str(work / "test"), 0.2, exclude=("label",))
note("detect_drift")
print(json.dumps(seen))
"""

IMPORTS = """
import importlib, json, sys
heavy = tuple(sys.argv[1].split(","))
for name in sys.argv[2:]:
    importlib.import_module(name)
print(json.dumps(sorted(m for m in heavy if m in sys.modules)))
"""


def test_data_steps_run_without_tensorflow(tmp_path: Path) -> None:
    seen = run_json(DATA_STEPS, str(tmp_path), ",".join(HEAVY))
    assert seen == {
        "load_dataset": [],
        "validate_data": [],
        "split_and_preprocess": [],
        "detect_drift": [],
    }


def test_no_component_imports_tensorflow_at_import_time() -> None:
    """Every wrapper and core imports TensorFlow only where it runs a Keras model."""
    root = Path(__file__).resolve().parents[2] / "components"
    modules = sorted(
        "kfp_mlops.components." + ".".join(path.relative_to(root).with_suffix("").parts)
        for name in ("core.py", "component.py")
        for path in root.glob(f"*/*/{name}")
    )
    assert len(modules) > 40  # every component, not an empty glob
    assert run_json(IMPORTS, ",".join(HEAVY), *modules) == []
