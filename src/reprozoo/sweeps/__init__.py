"""Optuna sweeps over a variant's hyperparameters: spaces from `pipelines/sweep/`, storage (sqlite, PostgreSQL, journal),
the trial objective (the train stage in-process, pruned by Lightning callbacks), workers and MLflow parent/child runs."""
