"""MLflow conventions: where runs go (store.py), what identifies them (lineage.py), how models are registered (registry.py).

Experiment per paper; run name `<variant>/seed<k>`; tags `paper`, `variant`, `dataset`, `profile`, `git.commit`,
`dvc.data_hash`, `params.hash`, `validation.result`. Credentials never enter params, tags or artifacts.
"""
