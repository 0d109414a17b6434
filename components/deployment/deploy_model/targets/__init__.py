"""Where a model is deployed, behind one interface the strategies drive.

- :class:`ClusterTarget` (``cluster.py``): a KServe InferenceService through the Kubernetes
  API.
- :class:`GitOpsTarget` (``gitops.py``): kustomize-ready files in a directory that a GitOps
  controller (Argo CD, Flux) applies; nothing else in the directory is touched.
- :class:`LocalTarget` (``local.py``): real model-server processes on loopback behind a
  weighted router; a JSON state file remembers which version is live on which port.
"""

from kfp_mlops.components.deployment.deploy_model.targets.base import Release, Target
from kfp_mlops.components.deployment.deploy_model.targets.cluster import ClusterTarget
from kfp_mlops.components.deployment.deploy_model.targets.gitops import GitOpsTarget
from kfp_mlops.components.deployment.deploy_model.targets.local import LocalTarget, stop_local

__all__ = ["ClusterTarget", "GitOpsTarget", "LocalTarget", "Release", "Target", "stop_local"]
