"""``python -m checks``: kube-score and kubeconform over the chart and examples/."""

import sys

from checks.manifests import main

sys.exit(main())
