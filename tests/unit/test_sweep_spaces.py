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
    with pytest.raises(ReprozooError, match=r"typo.yaml: pruner.name 'hyperbnd' unknown \(known: median, hyperband, none\)"):
        load_space(tmp_path, "typo")
