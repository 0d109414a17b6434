"""Deployment: the ``deploy_model`` component with its strategies and targets.

``deploy_model/`` ships a model with a canary, blue-green or rolling strategy
(``strategies.py``, gated by ``smoke.py``) to one of three targets behind one interface
(``targets/``): a Kubernetes cluster (KServe InferenceService through the API server), a
GitOps directory (kustomize), or local model-server processes (``processes.py``) behind a
small traffic-splitting router (``router.py``). ``manifests.py`` renders the
InferenceService, ``validation.py`` checks it. The model server itself is
:mod:`kfp_mlops.components.serving`; the model-directory contract is ``bundle.py``.
"""
