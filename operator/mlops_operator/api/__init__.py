"""Pydantic models of the three custom resources: the single source of truth for the CRDs.

Nothing here imports kopf or a Kubernetes client (import-linter enforces it), so the models
serve the operator, the CRD generator and the tests alike.
"""
