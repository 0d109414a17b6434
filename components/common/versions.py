"""The one place that defines the package version and the container images.

Every component's ``base_image``, the Dockerfiles' tags (``make images``) and
``setup.cfg``'s version are read from here; a test checks that they agree.
"""

__version__ = "0.1.0"

#: Registry the images are pushed to; override at build time with ``make images REGISTRY=...``.
REGISTRY = "ghcr.io/kfp-mlops"

#: Pipeline env (kfp, TensorFlow 2.21 + tf-keras, MLflow, Great Expectations, ...).
PIPELINE_IMAGE = f"{REGISTRY}/pipeline:{__version__}"
#: Trainer image: CUDA base, TensorFlow 2.15.1 + Horovod 0.28.1 (NCCL) and the pipeline env.
TRAINER_IMAGE = f"{REGISTRY}/trainer:{__version__}"
#: Model server image (KServe-compatible).
SERVING_IMAGE = f"{REGISTRY}/serving:{__version__}"

#: Images by name, as ``containers/<name>/Dockerfile`` builds them.
IMAGES = {"pipeline": PIPELINE_IMAGE, "trainer": TRAINER_IMAGE, "serving": SERVING_IMAGE}
