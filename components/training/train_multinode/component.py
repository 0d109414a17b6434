"""KFP wrapper of :mod:`kfp_mlops.components.training.train_multinode.core`."""

from kfp import dsl
from kfp.dsl import HTML, Artifact, Dataset, Input, Metrics, Model, Output

from kfp_mlops.components.common.versions import TRAINER_IMAGE


# The trainer image: it has the trainer env, in which a user's model_fn is built and checked
# before the TrainJob is created (the pipeline image has no TensorFlow 2.15 + Horovod).
@dsl.component(base_image=TRAINER_IMAGE, install_kfp_package=False)
def train_model_multinode(
    train: Input[Dataset],
    validation: Input[Dataset],
    model: Output[Model],
    metrics: Output[Metrics],
    curves: Output[HTML],
    manifests: Output[Artifact],
    best_params: Input[Artifact] = None,
    preprocessor: Input[Model] = None,
    model_fn: str = "builtin:mlp",
    num_nodes: int = 2,
    procs_per_node: int = 1,
    gpus_per_node: int = 1,
    accelerator_type: str = "nvidia.com/gpu",
    node_cpu: str = "8",
    node_memory: str = "32Gi",
    node_selector_json: str = "{}",
    tolerations_json: str = "[]",
    namespace: str = "",
    timeout_minutes: int = 360,
    epochs: int = 20,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    hidden_units: str = "64,32",
    activation: str = "relu",
    dropout: float = 0.1,
    l2: float = 1e-4,
    precision: str = "auto",
    loss_scale: float = 0.0,
    warmup_epochs: int = 5,
    grad_accum_steps: int = 4,
    clip_norm: float = 1.0,
    early_stopping_patience: int = 5,
    checkpoint_uri: str = "",
    tracking_uri: str = "",
    experiment_name: str = "kfp-mlops",
    seed: int = 42,
    robust_loss: bool = False,
    class_weight: str = "",
):
    """Train across several nodes as a Kubeflow Trainer TrainJob (Horovod on an MPI runtime).

    This step only orchestrates: it checks the data and parameters, writes the worker config
    next to the model, creates a TrainingRuntime (MPI policy: the Trainer makes the SSH keys
    and hostfile) and a TrainJob whose launcher runs horovodrun across num_nodes pods of the
    trainer image, waits for it, and copies the trained model back into the Model artifact.
    Needs Kubeflow Trainer v2 in the cluster, a gs:// pipeline root (every node reads the data
    from there) and RBAC to create trainjobs and trainingruntimes. Same training options as
    train_model.

    Args:
        train: Training set (Parquet) on gs://.
        validation: Validation set on gs://.
        model: Output: the same files as train_model's model (model.h5, history.json, ...).
        metrics: Final loss and val_loss, the task's metrics (accuracy, or rmse and mae) on
            train and validation, epochs_run, workers, samples_per_second.
        curves: HTML report of loss, accuracy and learning rate per epoch.
        manifests: The TrainingRuntime and TrainJob applied, as YAML (for audit or GitOps).
        best_params: Optional tuning result JSON (see train_model).
        preprocessor: The preprocessor of split_and_preprocess: its task spec says binary,
            multiclass or regression (without it: classification, classes from the labels).
        model_fn: As train_model's: builtin:<name>, package.module:function in the trainer
            image, or a .py file (a local file is uploaded next to the job for the nodes;
            gs:// is read by each node). Checked in this step before the TrainJob exists.
        num_nodes: Pods that train; the world size is num_nodes * procs_per_node.
        procs_per_node: Horovod processes per node: one per GPU.
        gpus_per_node: GPUs each node requests (0 = CPU nodes).
        accelerator_type: GPU resource name, e.g. nvidia.com/gpu.
        node_cpu: CPU request and limit of each node.
        node_memory: Memory request and limit of each node.
        node_selector_json: Node labels as JSON, e.g.
            {"cloud.google.com/gke-accelerator": "nvidia-l4"}.
        tolerations_json: Kubernetes tolerations as a JSON list.
        namespace: Namespace of the TrainJob; empty = this step's namespace.
        timeout_minutes: Fail the step if the TrainJob has not finished by then.
        epochs: Total epochs; a resumed run counts those already done.
        batch_size: Global batch size, split over all processes.
        learning_rate: Single-worker rate; the peak rate is learning_rate * world size.
        hidden_units: Comma-separated hidden layer widths, e.g. "64,32".
        activation: relu | gelu | elu | selu | tanh | swish.
        dropout: Dropout rate after each hidden layer, in [0, 1).
        l2: L2 weight penalty (0 disables it).
        precision: auto (mixed_float16 on GPU) | mixed_float16 | mixed_bfloat16 | float32.
        loss_scale: mixed_float16 only: 0 = dynamic loss scaling, > 0 = fixed scale.
        warmup_epochs: Epochs of linear learning-rate warm-up.
        grad_accum_steps: Batches accumulated per allreduce and optimizer step.
        clip_norm: Clip gradients to this global norm (0 disables clipping).
        early_stopping_patience: Epochs without val_loss improvement before stopping.
        checkpoint_uri: gs:// URI of the checkpoints; empty = next to the model. A TrainJob
            restarted on the same URI resumes from the last epoch.
        tracking_uri: MLflow tracking server URI; empty disables MLflow logging.
        experiment_name: MLflow experiment name.
        seed: Seed of weight initialisation and shuffling.
        robust_loss: Regression only: Huber loss instead of mean squared error.
        class_weight: Classification only: "" (rows weigh the same), "balanced" (n_rows /
            (n_classes * rows of the class), counted from the training split) or a JSON
            object of class -> weight, e.g. {"malignant": 3.0}; unnamed classes weigh 1.
    """
    # Every parameter by name, taken first (before the import below adds a local);
    # kfp_task maps them onto the core's arguments.
    params = dict(locals())
    from kfp_mlops.components.training.train_multinode.kfp_task import train_on_artifacts

    train_on_artifacts(**params)
