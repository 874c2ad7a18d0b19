"""Training: data loading, splits, payment-delay models, evaluation, MLflow, simulation."""
