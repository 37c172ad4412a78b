"""The pure core of the ModelDeployment controller: spec + observed children + now -> a Plan.

No I/O: the kopf layer reads the children, resolves the model source and runs the
analysis queries, then carries out the :class:`~mlops_operator.core.plan.Plan`.
"""
