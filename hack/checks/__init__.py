"""Third-party checkers that users run on charts and manifests, run over ours.

``python -m checks`` (with hack/ on ``PYTHONPATH``, as the Makefile sets it) runs kube-score
and kubeconform over the chart's ``helm template`` output and ``examples/``; see
:mod:`checks.manifests`. Findings the project accepts are listed, each with its reason, in
``hack/checks/config.yaml``.
"""
