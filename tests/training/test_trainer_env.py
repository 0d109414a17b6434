"""The trainer env as `make install` builds it: Horovod 0.28.1 on TensorFlow 2.15.1, Gloo."""

import os
import subprocess
from pathlib import Path

import pytest

ALLREDUCE = """
import horovod.tensorflow.keras as hvd
import tensorflow as tf
hvd.init()
total = hvd.allreduce(tf.constant([float(hvd.rank() + 1)]), op=hvd.Sum)
print(f"rank={hvd.rank()} size={hvd.size()} sum={float(total.numpy()[0])} tf={tf.__version__}")
"""


def _env(trainer_python):
    # TF 2.15 has Keras 2 built in; the pipeline env's switch to tf-keras must not reach it.
    path = f"{Path(trainer_python).parent}:{os.environ['PATH']}"
    return {**os.environ, "TF_USE_LEGACY_KERAS": "0", "PATH": path}


def test_trainer_env_pins(trainer_python):
    out = subprocess.run(
        [
            trainer_python,
            "-c",
            "import horovod, tensorflow, numpy, google.protobuf as p;"
            "print(horovod.__version__, tensorflow.__version__, numpy.__version__, p.__version__)",
        ],
        capture_output=True,
        text=True,
        check=True,
        env=_env(trainer_python),
    ).stdout.split()
    horovod, tf, numpy, protobuf = out[-4:]
    assert horovod == "0.28.1" and tf == "2.15.1"
    assert int(numpy.split(".")[0]) < 2 and int(protobuf.split(".")[0]) < 5


@pytest.mark.slow
@pytest.mark.trainer
def test_horovodrun_gloo_allreduce_across_two_processes(trainer_python, tmp_path):
    script = tmp_path / "allreduce.py"
    script.write_text(ALLREDUCE)
    horovodrun = str(Path(trainer_python).parent / "horovodrun")
    result = subprocess.run(
        [horovodrun, "-np", "2", "-H", "localhost:2", "--gloo", trainer_python, str(script)],
        check=False,
        capture_output=True,
        text=True,
        timeout=300,
        env=_env(trainer_python),
    )
    assert result.returncode == 0, result.stderr[-2000:]
    lines = sorted(
        line.split(">:", 1)[-1] for line in result.stdout.splitlines() if "rank=" in line
    )
    assert lines == ["rank=0 size=2 sum=3.0 tf=2.15.1", "rank=1 size=2 sum=3.0 tf=2.15.1"]
