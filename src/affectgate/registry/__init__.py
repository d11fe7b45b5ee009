"""The MLflow registry adapter: the only module that imports mlflow."""

from affectgate.registry.mlflow_registry import MlflowRegistry, alias_for

__all__ = ["MlflowRegistry", "alias_for"]
