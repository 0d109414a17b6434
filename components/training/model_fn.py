"""Your model, our training: how a ``model_fn`` is named, loaded, built and checked.

The contract (README, "Bring your own model"): a module with

    def build_model(task: TaskSpec, params: dict) -> tf.keras.Model   # required, uncompiled
    def search_space(trial) -> dict                                   # optional, Optuna
    def loss(task: TaskSpec)                                          # optional, a Keras loss
    def metrics(task: TaskSpec) -> list                               # optional

``task`` is :class:`~kfp_mlops.components.common.task.TaskSpec` (task type, classes, feature
names or image shape, ``output_width``); ``params`` holds the hyper-parameters
(:class:`~kfp_mlops.components.training.hparams.HyperParams` as a dict, plus any key a
tuning result adds). The library adds everything else: the loss and metrics for the task,
the mixed-precision policy (the output is cast to float32), Horovod's DistributedOptimizer,
clipping, accumulation, warm-up + cosine, checkpoints and resume, MLflow.

A ``model_fn`` is named as one of:

- ``builtin:mlp``, ``builtin:resnet_mlp`` (tabular), ``builtin:cnn`` (images);
- ``package.module:function``, importable in the trainer image (the function is the
  ``build_model``; the hooks are looked up in the same module);
- a Python file (a local path, or ``gs://`` copied to every worker by the launcher), like
  TFX's ``module_file``; it must define ``build_model``.

Only the standard library and TensorFlow (lazily) are imported: this module runs in the
trainer env, and :func:`check_model_fn` runs there before any Horovod worker starts.
"""

from __future__ import annotations

import importlib
import importlib.util
import inspect
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from kfp_mlops.components.common.errors import ModelCodeError
from kfp_mlops.components.common.task import TaskSpec

BUILTIN_PREFIX = "builtin:"
DEFAULT_MODEL_FN = "builtin:mlp"
_HOOKS = ("search_space", "loss", "metrics")


@dataclass
class ModelFn:
    """A resolved ``model_fn``: the build function and the optional hooks beside it."""

    spec: str
    build: Callable[..., Any]
    search_space: Callable[..., dict] | None = None
    loss: Callable[..., Any] | None = None
    metrics: Callable[..., list] | None = None

    @property
    def where(self) -> str:
        """How messages name the function (module and function name)."""
        module = getattr(self.build, "__module__", "?")
        return f"{module}.{getattr(self.build, '__name__', '?')} ({self.spec})"


def resolve(spec: str) -> ModelFn:
    """Load the ``model_fn`` named by ``spec``.

    Raises:
        ModelCodeError: If the module or function cannot be found or imported, or the
            function does not take ``(task, params)``; the message names them and the fix.
    """
    spec = (spec or DEFAULT_MODEL_FN).strip()
    if spec.startswith(BUILTIN_PREFIX):
        from kfp_mlops.components.training import builtin_models

        name = spec[len(BUILTIN_PREFIX) :]
        if name not in builtin_models.BUILTINS:
            raise ModelCodeError(
                f"model_fn '{spec}' is not a built-in model",
                f"use one of {', '.join(BUILTIN_PREFIX + n for n in builtin_models.BUILTINS)}, "
                "'package.module:function' or a .py file",
            )
        return ModelFn(spec, builtin_models.BUILTINS[name])
    if spec.endswith(".py"):
        module, func_name = _load_file(spec), "build_model"
    elif ":" in spec:
        module_name, _, func_name = spec.partition(":")
        module = _import(module_name, spec)
    else:
        raise ModelCodeError(
            f"model_fn '{spec}' is neither builtin:<name>, 'package.module:function' nor a "
            ".py file",
            "write e.g. 'my_models.tabular:build_model' or '/path/to/model.py'",
        )
    build = getattr(module, func_name, None)
    if not callable(build):
        raise ModelCodeError(
            f"module '{module.__name__}' ({spec}) has no function '{func_name}'",
            f"define def {func_name}(task, params) -> tf.keras.Model in it",
        )
    _check_signature(build, spec)
    hooks = {name: getattr(module, name, None) for name in _HOOKS}
    return ModelFn(spec, build, **{k: v for k, v in hooks.items() if callable(v)})


def _import(module_name: str, spec: str) -> ModuleType:
    try:
        return importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        raise ModelCodeError(
            f"model_fn '{spec}': module '{exc.name}' is not importable in the trainer env",
            "install the package in the trainer image (or pass a .py file)",
        ) from exc
    except Exception as exc:  # the user's module raised at import: show its own error
        raise ModelCodeError(
            f"model_fn '{spec}': importing '{module_name}' failed: {type(exc).__name__}: {exc}",
            "fix the module so it imports without error",
        ) from exc


def _fetch(uri: str) -> Path:
    """Copy a ``gs://`` model file to a local temp file (every worker does it for itself)."""
    import tempfile

    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    if not tf.io.gfile.exists(uri):
        raise ModelCodeError(f"model_fn file '{uri}' does not exist", "check the gs:// URI")
    local = Path(tempfile.mkdtemp(prefix="kfp-mlops-model-fn-")) / Path(uri).name
    tf.io.gfile.copy(uri, str(local), overwrite=True)
    return local


def _load_file(path: str) -> ModuleType:
    file = _fetch(path) if "://" in path else Path(path)
    if not file.is_file():
        raise ModelCodeError(
            f"model_fn file '{path}' does not exist",
            "pass a path inside the pod, or a gs:// URI (the launcher copies it to workers)",
        )
    name = f"kfp_mlops_user_model_{abs(hash(str(file.resolve())))}"
    module_spec = importlib.util.spec_from_file_location(name, file)
    if module_spec is None or module_spec.loader is None:
        raise ModelCodeError(f"'{path}' cannot be loaded as a Python module", "name it *.py")
    module = importlib.util.module_from_spec(module_spec)
    sys.modules[name] = module
    try:
        module_spec.loader.exec_module(module)
    except Exception as exc:
        raise ModelCodeError(
            f"model_fn file '{path}' failed to import: {type(exc).__name__}: {exc}",
            "fix the module so it imports without error",
        ) from exc
    return module


def _check_signature(build: Callable[..., Any], spec: str) -> None:
    try:
        inspect.signature(build).bind(object(), {})
    except TypeError as exc:
        raise ModelCodeError(
            f"model_fn '{spec}': {build.__name__}{inspect.signature(build)} cannot be called as "
            f"{build.__name__}(task, params) ({exc})",
            "define it as def build_model(task, params) -> tf.keras.Model",
        ) from exc
    except ValueError:  # builtins without a signature: let the call itself tell
        return


def build(model_fn: ModelFn, task: TaskSpec, params: dict[str, Any], num_features: int) -> Any:
    """Call the user's function and check what it returns against the task.

    The output is made float32 (a cast layer is added under a mixed-precision policy when
    the model's own output is not), so the loss is computed in float32.

    Raises:
        ModelCodeError: If the call raises, returns no Keras model, or its input or output
            shape does not fit the data and the task.
    """
    from kfp_mlops.components.common.tf import import_tf

    tf = import_tf()
    try:
        model = model_fn.build(task, dict(params))
    except ModelCodeError:
        raise
    except Exception as exc:
        raise ModelCodeError(
            f"{model_fn.where} raised {type(exc).__name__}: {exc}",
            "fix the function; it is called as build_model(task, params)",
        ) from exc
    if not isinstance(model, tf.keras.Model):
        raise ModelCodeError(
            f"{model_fn.where} returned {type(model).__name__}, not a tf.keras.Model",
            "return an uncompiled tf.keras.Model (tf_keras in the pipeline env)",
        )
    _check_shapes(model, model_fn, task, num_features)
    return _float32_output(tf, _flat_input(tf, model, task), model_fn)


def _check_shapes(model: Any, model_fn: ModelFn, task: TaskSpec, num_features: int) -> None:
    try:
        inputs, outputs = model.inputs, model.outputs
    except AttributeError:  # a subclassed model that was never called has no inputs yet
        inputs = outputs = None
    if not inputs or not outputs:
        raise ModelCodeError(
            f"{model_fn.where} returned a model without defined inputs and outputs",
            "build it with tf.keras.Input (functional or Sequential with an Input layer)",
        )
    if len(inputs) != 1 or len(outputs) != 1:
        raise ModelCodeError(
            f"{model_fn.where} returned a model with {len(inputs)} inputs and {len(outputs)} "
            "outputs",
            "the library feeds one feature tensor and reads one output",
        )
    expected_in = [num_features]
    got_in = [int(d) if d is not None else None for d in inputs[0].shape[1:]]
    if task.feature_kind == "image" and got_in == list(task.image_shape):
        expected_in = got_in  # an image-shaped input: _flat_input puts a Reshape before it
    if got_in != expected_in:
        raise ModelCodeError(
            f"{model_fn.where} returned a model whose input shape is {got_in}, but the data "
            f"has {expected_in}",
            "build the input from the task: tf.keras.Input(shape=(len(task.feature_names),)) "
            "(images: that flat pixel vector, or tf.keras.Input(shape=task.image_shape))",
        )
    width = int(outputs[0].shape[-1]) if outputs[0].shape[-1] is not None else -1
    if len(outputs[0].shape) != 2 or width != task.output_width:
        unit = {
            "binary": "1 sigmoid unit",
            "multiclass": f"{task.num_classes} softmax units",
            "regression": "1 linear unit",
        }[task.task_type]
        raise ModelCodeError(
            f"{model_fn.where} returned a model with output shape {list(outputs[0].shape)}, "
            f"but a {task.task_type} task needs (batch, {task.output_width})",
            f"end the model with {unit} (task.output_width)",
        )


def _flat_input(tf: Any, model: Any, task: TaskSpec) -> Any:
    """An image model taking ``image_shape``, behind a Reshape from the flat pixel vector.

    Every step after the split feeds ``(n, h * w * c)`` (one contract for tables and
    images); a user's CNN built on ``Input(shape=task.image_shape)`` is wrapped so it fits.
    """
    if task.feature_kind != "image" or len(model.inputs[0].shape) == 2:
        return model
    height, width_, channels = task.image_shape
    width = int(height * width_ * channels)
    flat = tf.keras.Input(shape=(width,), name="pixels", dtype="float32")
    image = tf.keras.layers.Reshape(tuple(task.image_shape), name="image")(flat)
    return tf.keras.Model(flat, model(image), name=model.name)


def _float32_output(tf: Any, model: Any, model_fn: ModelFn) -> Any:
    if model.outputs[0].dtype == tf.float32:
        return model
    try:
        cast = tf.keras.layers.Activation("linear", dtype="float32", name="float32_output")
        return tf.keras.Model(model.inputs, cast(model.outputs[0]), name=model.name)
    except Exception as exc:
        raise ModelCodeError(
            f"{model_fn.where}: its output is {model.outputs[0].dtype} and cannot be cast to "
            f"float32 ({exc})",
            "give the last layer dtype='float32' (mixed precision needs a float32 output)",
        ) from exc


def default_loss(task: TaskSpec, robust: bool = False) -> str:
    """The Keras loss for the task (labels are 0..n-1 ints, or float targets)."""
    if task.task_type == "regression":
        return "huber" if robust else "mean_squared_error"
    return (
        "binary_crossentropy" if task.task_type == "binary" else "sparse_categorical_crossentropy"
    )


def check_model_fn(spec: str, task: TaskSpec, params: dict[str, Any], num_features: int) -> dict:
    """Resolve and build once on CPU; a summary, or :class:`ModelCodeError` with the fix."""
    model = build(resolve(spec), task, params, num_features)
    return {
        "model_fn": spec,
        "name": model.name,
        "parameters": int(model.count_params()),
        "layers": len(model.layers),
        "output_shape": [d if d is None else int(d) for d in model.outputs[0].shape],
    }


def main(argv: list[str] | None = None) -> int:
    """``python -m ...model_fn <request.json>``: the launcher's check in the trainer env.

    Prints one JSON line: the summary, or ``{"problem": ..., "fix": ...}`` (exit code 3).
    """
    import json
    import os

    os.environ.setdefault("CUDA_VISIBLE_DEVICES", "")  # a check must not take a GPU
    args = sys.argv[1:] if argv is None else argv
    request = json.loads(Path(args[0]).read_text(encoding="utf-8"))
    try:
        summary = check_model_fn(
            request["model_fn"],
            TaskSpec.from_json(request["task"]),
            request["params"],
            int(request["num_features"]),
        )
    except ModelCodeError as exc:
        print(json.dumps({"problem": exc.problem, "fix": exc.fix}))
        return 3
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
