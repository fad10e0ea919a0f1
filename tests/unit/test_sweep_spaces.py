"""Every shipped sweep space loads, builds its sampler and pruner, and names keys that exist in the config it tunes."""

from __future__ import annotations

from pathlib import Path

import pytest
from omegaconf import OmegaConf

from reprozoo.config import compose, project_root
from reprozoo.sweeps.space import load_space

ROOT = project_root(Path(__file__))
SPACES = sorted(p.stem for p in (ROOT / "pipelines" / "sweep").glob("*.yaml"))
TARGETS = {"beta": "pose/hrnet-lm", "rho": "pose/hrnet-lm", "lp-weights": "pose/hrnet-lp", "lambda": "topogan/topogan"}
DATASETS = {"pose": "toydrone-tello", "topogan": "synthmembranes"}


@pytest.mark.parametrize("name", SPACES)
def test_space_keys_exist_in_the_config_it_tunes(name: str) -> None:
    import optuna

    space = load_space(ROOT, name)
    target = TARGETS.get(name, "pose/hrnet-lh")
    cfg = compose(target=target, dataset=DATASETS[target.split("/")[0]], profile="smoke", root=ROOT)
    missing = [key for key in space.params if OmegaConf.select(cfg, key, default="<missing>") == "<missing>"]
    assert not missing, f"{name}: {missing} not in {target}'s config"
    assert isinstance(space.make_sampler(), optuna.samplers.BaseSampler)
    assert isinstance(space.make_pruner(), optuna.pruners.BasePruner)
    assert space.direction in ("minimize", "maximize") and space.metric.startswith("val/")


def test_an_unknown_pruner_is_refused_with_the_file(tmp_path: Path) -> None:
    from reprozoo.errors import ReprozooError

    (tmp_path / "pipelines" / "sweep").mkdir(parents=True)
    (tmp_path / "pipelines" / "sweep" / "typo.yaml").write_text(
        "objective: {metric: val/loss, direction: minimize}\nparams:\n  optim.lr: {type: float, low: 1.0e-4, high: 1.0e-2}\n"
        "pruner: {name: hyperbnd}\n")
    with pytest.raises(ReprozooError, match=r"typo.yaml: pruner.name 'hyperbnd' unknown \(known: median, percentile, hyperband, successive-halving, none\)"):
        load_space(tmp_path, "typo")


@pytest.mark.parametrize(("pruner", "kind", "settings"), [
    ({"name": "median", "n_startup_trials": 1, "n_warmup_steps": 0}, "MedianPruner",
     {"_n_startup_trials": 1, "_n_warmup_steps": 0, "_percentile": 50.0}),
    ({"name": "percentile", "percentile": 10, "n_startup_trials": 3}, "PercentilePruner",
     {"_n_startup_trials": 3, "_n_warmup_steps": 1, "_percentile": 10.0}),
    ({"name": "successive-halving", "min_resource": 2, "reduction_factor": 4}, "SuccessiveHalvingPruner",
     {"_min_resource": 2, "_reduction_factor": 4}),
    ({"name": "hyperband", "min_resource": 2}, "HyperbandPruner", {"_min_resource": 2, "_reduction_factor": 3}),
])
def test_the_pruner_is_built_with_the_spaces_settings(pruner: dict, kind: str, settings: dict) -> None:
    import optuna

    from reprozoo.sweeps.space import Space

    built = Space("s", "val/loss", "minimize", {}, {}, pruner).make_pruner()
    assert type(built) is getattr(optuna.pruners, kind)
    assert {key: getattr(built, key) for key in settings} == settings
    assert isinstance(Space("s", "val/loss", "minimize", {}, {}, pruner).make_pruner(enabled=False), optuna.pruners.NopPruner)
