"""`reprozoo stack`: the team set-up on one machine, for development and tests — PostgreSQL (MLflow's backend store and
the Optuna sweep database), SeaweedFS S3 (MLflow artifacts and the DVC remote), an MLflow server with proxied
artifacts, and optuna-dashboard. Everything binds 127.0.0.1 and lives in the project's git-ignored `.stack/`.

Modules: `layout` (directories and ports), `secrets` (generated credentials, the env file), `processes` (detached
start, pid records, stop by pid), `services` (how each server starts and answers a health check), `manager`
(up / down / status / the DVC remote).
"""
