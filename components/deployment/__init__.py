"""Serving and deployment: a KServe model server and a deploy component with strategies.

``serve`` is the model server (KServe V1/V2 protocols, Prometheus metrics) that the
serving image runs. ``deploy_model`` ships a model with a canary, blue-green or rolling
strategy to one of three targets behind one interface: a Kubernetes cluster (KServe
InferenceService through the API server), a GitOps directory (kustomize), or local
model-server processes behind a small traffic-splitting router. Smoke tests gate every
promotion and a failed one rolls back.
"""
