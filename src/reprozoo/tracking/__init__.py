"""MLflow conventions: where runs go (store.py), what identifies them (lineage.py, lineage_walk.py), how registered
versions move between aliases (promote.py; registration itself is stages/register.py).

Experiment per paper; run name `<variant>/seed<k>`; tags `paper`, `variant`, `dataset`, `profile`, `git.commit`,
`dvc.data_hash`, `params.hash`, `validation.result`, and for sweeps `optuna.study`, `optuna.trial`, `mlflow.parentRunId`.
Registered versions carry the same lineage and the aliases `candidate` and `<variant>`. Credentials never enter
params, tags or artifacts.
"""
