"""Root conftest: registers the cluster fixtures (see hack/localcluster/pytest_plugin.py).

Plugins must be registered from the rootdir conftest; pytest's ``pythonpath`` setting
puts hack/ on sys.path so ``localcluster`` imports without being installed.
"""

pytest_plugins = ["localcluster.pytest_plugin"]
