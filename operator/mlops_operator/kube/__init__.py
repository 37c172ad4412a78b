"""The thin I/O layer between the pure core and the cluster.

- :mod:`.client` — an async JSON client for any resource, counting every request.
- :mod:`.workqueue` — a deduplicating, delaying queue of keys to reconcile.
- :mod:`.events` — Kubernetes Events on our objects.
"""
