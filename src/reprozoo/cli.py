"""The `reprozoo` command: one sub-command per pipeline stage, plus `ui` and `config`.

Heavy libraries are imported inside the handlers, so `reprozoo --help` answers at once. User mistakes (bad config,
bad data, missing inputs) end with one line on stderr and exit status 2.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

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

    p = sub.add_parser("config", help="print the composed configuration")
    p.add_argument("target", nargs="?", metavar="PAPER/VARIANT")
    p.add_argument("--dataset")
    _common(p)

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


def dispatch(args: argparse.Namespace) -> int:
    if args.command == "ui":
        return _ui(args)
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
        print(f"registered {record['name']} version {record['version']} as @{record['alias']} (run {record['run_id']})")
    elif args.command == "config":
        from reprozoo.config import compose, to_yaml

        print(to_yaml(compose(target=args.target, dataset=args.dataset, profile=args.profile, overrides=args.overrides)), end="")
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return dispatch(args)
    except ReprozooError as exc:
        print(f"reprozoo: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("reprozoo: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
