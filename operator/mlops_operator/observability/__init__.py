"""Logs and metrics of the operator's own health."""
