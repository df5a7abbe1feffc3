"""The endpoints an operator asks, not a user: ``GET /health`` and ``GET /metrics``."""
