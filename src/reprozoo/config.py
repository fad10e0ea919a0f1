"""Compose a run's configuration: the Hydra tree in `pipelines/` + `params.yaml` + command-line overrides.

One source for every number: defaults live in `pipelines/`; `params.yaml` names only what the pipeline varies
(the profile, the datasets, the runs). Composition happens inside each stage (not through DVC's Hydra hook), so
`dvc repro`, `dvc exp run -S ...` and a hand-run `reprozoo train ...` behave the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from reprozoo.errors import ReprozooError

PROFILES = ("smoke", "default", "full")


def project_root(start: Path | None = None) -> Path:
    """The repository root: `$REPROZOO_ROOT`, else the nearest ancestor of `start` (cwd) holding `pipelines/config.yaml`."""
    env = os.environ.get("REPROZOO_ROOT")
    if env:
        root = Path(env).resolve()
        if not (root / "pipelines" / "config.yaml").is_file():
            raise ReprozooError(f"REPROZOO_ROOT={env}: no pipelines/config.yaml there")
        return root
    here = (start or Path.cwd()).resolve()
    for candidate in (here, *here.parents):
        if (candidate / "pipelines" / "config.yaml").is_file():
            return candidate
    raise ReprozooError(f"{here}: not inside a reprozoo project (no pipelines/config.yaml above it)")


def read_params(root: Path) -> dict[str, Any]:
    """The pipeline's `params.yaml` as a dict (empty when the file is absent)."""
    path = root / "params.yaml"
    if not path.is_file():
        return {}
    try:
        params = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ReprozooError(f"{path}: invalid YAML: {str(exc).splitlines()[0]}") from exc
    if not isinstance(params, dict):
        raise ReprozooError(f"{path}: expected a mapping at the top level")
    return params


def resolve_profile(root: Path, profile: str | None) -> str:
    """The profile to run: the explicit one, else `params.yaml`'s `profile`, else `default`."""
    chosen = profile or read_params(root).get("profile") or "default"
    if chosen not in PROFILES:
        raise ReprozooError(f"profile '{chosen}': unknown (choose one of {', '.join(PROFILES)})")
    return str(chosen)


def parse_target(target: str, root: Path) -> tuple[str, str]:
    """Split `<paper>/<variant>` and check that the variant's config exists."""
    paper, sep, variant = target.partition("/")
    if not sep or not paper or not variant:
        raise ReprozooError(f"'{target}': expected <paper>/<variant>, e.g. pose/hrnet-lh")
    folder = root / "pipelines" / paper
    if not (folder / f"{variant}.yaml").is_file() or variant.startswith("_"):
        known = sorted(p.stem for p in folder.glob("*.yaml") if not p.stem.startswith("_")) if folder.is_dir() else []
        hint = f" (known: {', '.join(known)})" if known else f" (no paper '{paper}' in pipelines/)"
        raise ReprozooError(f"variant '{target}': no pipelines/{paper}/{variant}.yaml{hint}")
    return paper, variant


def run_overrides(root: Path, paper: str, variant: str, dataset: str | None) -> list[str]:
    """Hydra overrides that `params.yaml` gives a run: `runs.<key>.overrides` (nested keys) of the matching run.

    This is where a sweep's best point goes (`dvc exp run -S runs.<key>.overrides.optim.lr=3e-4`), so `dvc repro`
    and hand-run commands train the same configuration.
    """
    for run in (read_params(root).get("runs") or {}).values():
        if run.get("paper") == paper and run.get("variant") == variant and run.get("dataset") == dataset:
            return [f"{key}={_override_value(value)}" for key, value in _dotted(run.get("overrides") or {})]
    return []


def _dotted(tree: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    items = []
    for key, value in tree.items():
        if isinstance(value, dict):
            items.extend(_dotted(value, f"{prefix}{key}."))
        else:
            items.append((f"{prefix}{key}", value))
    return items


def _override_value(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


def known_datasets(root: Path) -> list[str]:
    """Names of the dataset configs in `pipelines/dataset/`."""
    return sorted(p.stem for p in (root / "pipelines" / "dataset").glob("*.yaml"))


def compose(
    *,
    target: str | None = None,
    dataset: str | None = None,
    profile: str | None = None,
    overrides: Sequence[str] = (),
    root: Path | None = None,
):
    """Compose the configuration of one stage invocation.

    Args:
        target: `<paper>/<variant>` (train/evaluate/register) or None (fetch/preprocess).
        dataset: a dataset config name from `pipelines/dataset/`.
        profile: smoke/default/full; None reads `params.yaml`.
        overrides: Hydra overrides, e.g. `optim.lr=3e-4`.
    Returns:
        The composed `omegaconf.DictConfig` (interpolations unresolved).
    """
    from hydra import compose as hydra_compose
    from hydra import initialize_config_dir
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    root = root or project_root()
    all_overrides = [f"profile={resolve_profile(root, profile)}", f"tracking={read_params(root).get('tracking') or 'local'}",
                     f"paths.root='{root.resolve()}'"]
    if target is not None:
        paper, variant = parse_target(target, root)
        all_overrides.append(f"+{paper}={variant}")
        all_overrides.extend(run_overrides(root, paper, variant, dataset))
    if dataset is not None:
        if dataset not in known_datasets(root):
            raise ReprozooError(f"dataset '{dataset}': no pipelines/dataset/{dataset}.yaml (known: {', '.join(known_datasets(root))})")
        all_overrides.append(f"dataset={dataset}")
    all_overrides.extend(overrides)
    try:
        with initialize_config_dir(config_dir=str(root / "pipelines"), version_base="1.3"):
            cfg = hydra_compose("config", overrides=all_overrides)
        from omegaconf import OmegaConf

        OmegaConf.resolve(cfg)
    except (HydraException, OmegaConfBaseException) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReprozooError(f"configuration: {first}") from exc
    if dataset is not None and target is not None and cfg.dataset.paper != cfg.paper:
        raise ReprozooError(f"dataset '{dataset}' belongs to paper '{cfg.dataset.paper}', not '{cfg.paper}'")
    return cfg


def to_yaml(cfg) -> str:
    """The composed config as YAML (resolved)."""
    from omegaconf import OmegaConf

    return OmegaConf.to_yaml(cfg, resolve=True)


def params_hash(cfg) -> str:
    """A short stable hash of everything that shapes a run (the resolved config minus output paths)."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(cfg, resolve=True)
    data.pop("paths", None)
    data.pop("tracking", None)
    blob = yaml.safe_dump(data, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def flatten(cfg, prefix: str = "") -> dict[str, str]:
    """Flatten a config into `a.b.c -> value` strings, as MLflow params."""
    from omegaconf import OmegaConf

    data = OmegaConf.to_container(cfg, resolve=True) if not isinstance(cfg, dict) else cfg
    out: dict[str, str] = {}
    for key, value in data.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            out.update(flatten(value, f"{name}."))
        else:
            out[name] = str(value)
    return out
