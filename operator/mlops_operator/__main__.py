"""``python -m mlops_operator`` is ``mlops-operator``."""

import sys

from mlops_operator.cli import main

sys.exit(main())
