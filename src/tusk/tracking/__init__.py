"""The tracker port (runs, registered model versions, aliases) and its MLflow backend."""
