"""The pure core: spec and observed state in, desired children and status out.

No I/O, no kopf, no Kubernetes client (import-linter enforces it): everything here is a
function of its arguments, including the current time, so it is tested without a cluster.
"""
