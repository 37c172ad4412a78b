"""RetrainPolicy: the pure core of retraining (trigger evaluation, cooldown, concurrency and
promotion, from the spec, the observed TrainingJobs, the drift value and now)."""
