"""The `reprozoo` command: one sub-command per pipeline stage (fetch, preprocess, train, evaluate, register, verify),
plus sweep, report, promote, lineage, stack, ui and config.

Heavy libraries are imported inside the handlers, so `reprozoo --help` answers at once. User mistakes (bad config,
bad data, missing inputs) end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from reprozoo.errors import ReprozooError


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--profile", choices=("smoke", "default", "full"), help="how big everything is (default: params.yaml's profile)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="Hydra overrides, e.g. optim.lr=3e-4")


def _run_args(parser: argparse.ArgumentParser, seeds: bool = True) -> None:
    parser.add_argument("target", metavar="PAPER/VARIANT", help="e.g. pose/hrnet-lh")
    parser.add_argument("--dataset", required=True, help="dataset config name, e.g. toydrone-tello")
    if seeds:
        parser.add_argument("--seed", type=int, action="append", dest="seeds", help="seed to run (repeatable; default: the profile's seeds)")
    _common(parser)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="reprozoo", description="Reproduce computer-vision papers as tracked, verifiable pipelines.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("fetch", help="materialise a dataset under data/raw/ (synthetic generator or verified download)")
    p.add_argument("dataset")
    _common(p)
    p = sub.add_parser("preprocess", help="manifest + great-expectations validation → data/processed/")
    p.add_argument("dataset")
    _common(p)
    _run_args(sub.add_parser("train", help="train a variant (one MLflow run per seed) → models/"))
    _run_args(sub.add_parser("evaluate", help="test-split metrics, per-sample values and figures → reports/eval/ and MLflow"))
    _run_args(sub.add_parser("register", help="register the best seed's model in the MLflow registry with alias 'candidate'"), seeds=False)

    p = sub.add_parser("verify", help="decide each of a paper's claims from its eval reports → reports/claims/ and MLflow tags")
    p.add_argument("paper", help="paper id, e.g. pose")
    p = sub.add_parser("report", help="one self-contained HTML page per paper → reports/<paper>.html and MLflow")
    p.add_argument("paper", help="paper id, e.g. pose")
    p = sub.add_parser("promote", help="move an alias (default champion) to the candidate when a paired bootstrap says it is better")
    p.add_argument("name", metavar="MODEL", help="registered model, e.g. pose.toydrone-tello")
    p.add_argument("--to", help="alias to move (default: pipelines/promote.yaml, champion)")
    p.add_argument("--metric", help="per-sample metric to compare (default: pipelines/promote.yaml)")
    p.add_argument("--min-delta", type=float, help="the improvement's lower bound must exceed this (metric units)")
    p.add_argument("--force", action="store_true", help="promote even if the gate refuses (needs --reason; recorded)")
    p.add_argument("--reason", help="why --force was needed (recorded as a tag)")
    p = sub.add_parser("lineage", help="walk a model version back to its run, config, commit and data")
    p.add_argument("uri", metavar="models:/NAME@ALIAS", help="or models:/NAME/VERSION")
    p.add_argument("--checkout", metavar="DIR", type=Path, help="restore that commit (git worktree) and its data (dvc checkout) in DIR")

    p = sub.add_parser("sweep", help="Optuna sweep over a variant's hyperparameters (pruned, resumable, multi-worker, tracked in MLflow)")
    p.add_argument("target", metavar="PAPER/VARIANT", help="e.g. pose/hrnet-lm")
    p.add_argument("--dataset", required=True)
    p.add_argument("--space", required=True, help="pipelines/sweep/<space>.yaml")
    p.add_argument("--trials", type=int, required=True, help="total budget: COMPLETE + PRUNED trials, counted across re-runs")
    p.add_argument("--storage", help="SQLAlchemy URL or journal:<file> (default: the tracking config's sweep_storage, sqlite:///mlruns/optuna.db or the stack's PostgreSQL)")
    p.add_argument("--study", help="study name (default <paper>-<variant>-<dataset>-<space>)")
    p.add_argument("--workers", type=int, default=1, help="local worker processes on the study")
    p.add_argument("--timeout", type=float, help="stop starting trials after this many seconds")
    p.add_argument("--no-prune", action="store_true", help="disable the space's pruner")
    p.add_argument("--sampler-seed", type=int, help="seed of the sampler (default: the space's)")
    p.add_argument("--register-best", action="store_true", help="retrain the best point with the profile's seeds and register it as candidate")
    p.add_argument("--worker-of", help=argparse.SUPPRESS)
    _common(p)

    p = sub.add_parser("config", help="print the composed configuration")
    p.add_argument("target", nargs="?", metavar="PAPER/VARIANT")
    p.add_argument("--dataset")
    _common(p)

    p = sub.add_parser("stack", help="local team servers on 127.0.0.1: PostgreSQL, SeaweedFS S3, MLflow server, optuna-dashboard")
    p.add_argument("action", choices=("up", "down", "status", "env"), help="up: start (and set the DVC remote 'stack'); down: stop what up "
                   "started; status: health; env: print the shell exports (eval \"$(reprozoo stack env)\")")
    p.add_argument("services", nargs="*", metavar="SERVICE", help="postgres, s3, mlflow, dashboard (default: all; up adds what they need)")
    p.add_argument("--port-base", type=int, help="ports base+32…base+80 (default 18400; fixed at the first up)")
    p.add_argument("--purge", action="store_true", help="with down: also delete the stack's data and credentials")

    p = sub.add_parser("ui", help="serve the MLflow UI over the project's tracking store")
    p.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=5000)
    p.add_argument("--profile", help=argparse.SUPPRESS)
    return parser


def _ui(args: argparse.Namespace) -> int:
    from reprozoo.config import compose, project_root
    from reprozoo.tracking import store

    root = project_root()
    cfg = compose(root=root)
    uri = store.tracking_uri(cfg, root)
    if uri.startswith(("http://", "https://")):
        store.check_server(uri)
        print(f"MLflow UI: {store.redact(uri)} (the tracking server's own UI)")
        return 0
    artifacts = (root / str(cfg.tracking.artifact_root)).resolve()
    artifacts.mkdir(parents=True, exist_ok=True)
    store.quiet_mlflow()
    if args.host != "127.0.0.1":
        print(f"reprozoo: warning: serving on {args.host}: anyone who can reach it can read and change your runs", file=sys.stderr)
    command = [sys.executable, "-m", "mlflow", "server", "--backend-store-uri", uri, "--default-artifact-root", artifacts.as_uri(),
               "--host", args.host, "--port", str(args.port)]
    print(f"MLflow UI on http://{args.host}:{args.port} (store {store.redact(uri)})", flush=True)
    os.execv(sys.executable, command)
    return 0  # unreachable: execv replaces the process


def _stack(args: argparse.Namespace) -> int:
    from reprozoo.config import project_root
    from reprozoo.stack import manager
    from reprozoo.stack.services import SERVICES

    root = project_root()
    names = args.services or list(SERVICES)
    if args.action == "env":
        env_file = manager.layout_of(root).env_file
        if not env_file.is_file():
            raise ReprozooError(f"{env_file}: no stack here yet (run `reprozoo stack up`)")
        print(env_file.read_text(), end="")
        return 0
    if args.action == "down":
        stopped = manager.down(root, names, purge=args.purge)
        print(f"stopped {', '.join(stopped) if stopped else 'nothing (not running)'}" + ("; removed .stack/" if args.purge else ""))
        return 0
    rows = manager.up(root, names, port_base=args.port_base) if args.action == "up" else manager.status(root)
    for row in rows:
        state = "healthy" if row.healthy else ("running, not answering" if row.running else "stopped")
        print(f"{row.name:<10} {state:<22} {row.url:<36} pid {row.pid or '-'}")
    if args.action == "up":
        print(f"credentials: {manager.layout_of(root).env_file} (private); use the stack with: "
              'eval "$(reprozoo stack env)", then tracking=server (or just MLFLOW_TRACKING_URI)')
    return 0 if all(row.healthy for row in rows if row.name in names) else 1


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "ui":
        return _ui(args)
    if args.command == "stack":
        return _stack(args)
    if args.command == "fetch":
        from reprozoo.stages.fetch import fetch

        path = fetch(args.dataset, profile=args.profile, overrides=args.overrides, progress=sys.stderr.isatty())
        print(f"fetched {args.dataset} → {path}")
    elif args.command == "preprocess":
        from reprozoo.stages.preprocess import preprocess

        report = preprocess(args.dataset, profile=args.profile, overrides=args.overrides)
        print(f"preprocessed {args.dataset}: {report.evaluated} expectations passed")
    elif args.command == "train":
        from reprozoo.stages.train import train

        for r in train(args.target, args.dataset, seeds=args.seeds, profile=args.profile, overrides=args.overrides):
            print(f"trained {args.target} seed {r.seed}: {r.monitor}={r.best_score:.4g} in {r.train_seconds:.0f}s ({r.train_images_per_second:.0f} img/s, {r.device}); run {r.run_id}")
    elif args.command == "evaluate":
        from reprozoo.stages.evaluate import evaluate

        summary = evaluate(args.target, args.dataset, seeds=args.seeds, profile=args.profile, overrides=args.overrides)
        shown = ("npe", "ad", "acc2", "acc5", "add2", "add5", "proj2", "proj5", "pnp_failure_rate")
        print(f"{args.target} on {args.dataset} (mean of {len(summary['seeds'])} seed(s)): " + ", ".join(f"{k}={summary['mean'][k]:.4g}" for k in shown if k in summary["mean"]))
    elif args.command == "register":
        from reprozoo.stages.register import register

        record = register(args.target, args.dataset, profile=args.profile, overrides=args.overrides)
        print(f"registered {record['name']} version {record['version']} as {', '.join('@' + a for a in record['aliases'])} (run {record['run_id']})")
    elif args.command == "verify":
        from reprozoo.stages.verify import verify

        result = verify(args.paper)
        print(f"{args.paper}: " + ", ".join(f"{n} {v}" for v, n in result["counts"].items()) + f" → reports/claims/{args.paper}.md")
    elif args.command == "report":
        from reprozoo.stages.report import report

        page, run_id = report(args.paper)
        print(f"wrote {page} (logged to MLflow run {run_id})")
    elif args.command == "promote":
        from reprozoo.tracking.promote import promote

        d = promote(args.name, to=args.to, metric=args.metric, min_delta=args.min_delta, force=args.force, reason=args.reason)
        print(f"{d.name} version {d.version} → @{d.target}: {d.decision}: {d.reason}")
    elif args.command == "lineage":
        from reprozoo.tracking.lineage_walk import checkout, describe, walk

        lineage = walk(args.uri)
        print(describe(lineage), end="")
        if args.checkout:
            restored = checkout(lineage, args.checkout)
            print(f"checked out commit {lineage.commit[:12]} in {args.checkout} with {', '.join(restored)}")
    elif args.command == "sweep":
        from reprozoo.sweeps.runner import sweep

        summary = sweep(args.target, args.dataset, space=args.space, trials=args.trials, storage_url=args.storage, study_name=args.study,
                        workers=args.workers, timeout=args.timeout, prune=not args.no_prune, profile=args.profile, overrides=args.overrides,
                        register_best=args.register_best, worker_of=args.worker_of, sampler_seed=args.sampler_seed)
        if summary is not None:
            print(f"study {summary.study} ({summary.storage}): {summary.complete} complete, {summary.pruned} pruned, {summary.failed} failed; "
                  f"best {summary.best_value} at {summary.best_params}; MLflow parent run {summary.parent_run_id}")
            if summary.best_file:
                print(f"best parameters: {summary.best_file} (apply with `dvc exp run -S runs.<key>.overrides.<param>=<value>`)")
    elif args.command == "config":
        from reprozoo.config import compose, to_yaml

        print(to_yaml(compose(target=args.target, dataset=args.dataset, profile=args.profile, overrides=args.overrides)), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    # overrides may also follow options (`train pose/x --dataset d optim.lr=1e-3`)
    stray = [a for a in extra if a.startswith("-") or "=" not in a]
    if stray or (extra and not hasattr(args, "overrides")):
        parser.error(f"unrecognized arguments: {' '.join(stray or extra)}")
    if extra:
        args.overrides = [*args.overrides, *extra]
    try:
        return dispatch(args)
    except ReprozooError as exc:
        print(f"reprozoo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reprozoo: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:
        from reprozoo.tracking.store import tracking_failure

        message = tracking_failure(exc)
        if message is None:
            raise
        print(f"reprozoo: error: {message}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
