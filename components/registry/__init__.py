"""MLflow model registry: register blessed models, promote to champion, roll back."""
