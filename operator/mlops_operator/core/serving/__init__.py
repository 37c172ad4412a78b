"""ModelDeployment: the pure core of canary serving (desired Deployments, Service, traffic
weights, analysis verdicts and status from the spec, the observed children and now)."""
