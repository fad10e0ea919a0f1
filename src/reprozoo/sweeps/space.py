"""A sweep space (`pipelines/sweep/<name>.yaml`): the objective, the parameters to suggest, the sampler and pruner.

    objective: {metric: val/add5, direction: maximize}
    params:
      optim.lr: {type: float, low: 3e-5, high: 1e-3, log: true}
      loss.beta: {type: categorical, choices: [1e-5, 1e-4]}
    sampler: {name: tpe, seed: 0}          # tpe | random
    pruner: {name: median, n_startup_trials: 2, n_warmup_steps: 1}   # median | percentile | hyperband |
                                                                     # successive-halving | none

Pruner keys (Optuna's, defaults in brackets): median: n_startup_trials [2], n_warmup_steps [1]; percentile: percentile
[25] (a trial must stay within the best `percentile` % of completed trials at each step), n_startup_trials [2],
n_warmup_steps [1]; hyperband and successive-halving (asynchronous successive halving, one bracket):
min_resource [1], reduction_factor [3].
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reprozoo.errors import ReprozooError


SAMPLERS = ("tpe", "random")
PRUNERS = ("median", "percentile", "hyperband", "successive-halving", "none")


@dataclass(frozen=True)
class Space:
    name: str
    metric: str
    direction: str
    params: dict[str, dict[str, Any]]
    sampler: dict[str, Any]
    pruner: dict[str, Any]

    def suggest(self, trial) -> list[str]:
        """Draw one point; returns it as Hydra overrides (`key=value`)."""
        overrides = []
        for key, spec in self.params.items():
            kind = spec["type"]
            if kind == "float":
                value = trial.suggest_float(key, float(spec["low"]), float(spec["high"]), log=bool(spec.get("log", False)))
            elif kind == "int":
                value = trial.suggest_int(key, int(spec["low"]), int(spec["high"]), log=bool(spec.get("log", False)))
            else:
                value = trial.suggest_categorical(key, list(spec["choices"]))
            overrides.append(f"{key}={value}")
        return overrides

    def make_sampler(self, seed_offset: int = 0):
        """The space's sampler; `seed_offset` shifts its seed (a resumed study must not redraw its first points)."""
        import optuna

        name, seed = self.sampler.get("name", "tpe"), self.sampler.get("seed")
        seed = None if seed is None else int(seed) + seed_offset
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        return optuna.samplers.TPESampler(seed=seed, n_startup_trials=int(self.sampler.get("n_startup_trials", 4)))

    def make_pruner(self, enabled: bool = True):
        """The space's pruner (Optuna's NopPruner when `enabled` is False: the unpruned study of a comparison)."""
        import optuna

        name = self.pruner.get("name", "median") if enabled else "none"
        if name == "none":
            return optuna.pruners.NopPruner()
        if name in ("hyperband", "successive-halving"):
            rungs = {"min_resource": int(self.pruner.get("min_resource", 1)),
                     "reduction_factor": int(self.pruner.get("reduction_factor", 3))}
            if name == "hyperband":
                return optuna.pruners.HyperbandPruner(**rungs)
            return optuna.pruners.SuccessiveHalvingPruner(**rungs)
        patience = {"n_startup_trials": int(self.pruner.get("n_startup_trials", 2)),
                    "n_warmup_steps": int(self.pruner.get("n_warmup_steps", 1))}
        if name == "percentile":
            return optuna.pruners.PercentilePruner(float(self.pruner.get("percentile", 25.0)), **patience)
        return optuna.pruners.MedianPruner(**patience)


def load_space(root: Path, name: str) -> Space:
    """Read and check `pipelines/sweep/<name>.yaml`."""
    path = root / "pipelines" / "sweep" / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in path.parent.glob("*.yaml"))
        raise ReprozooError(f"sweep space '{name}': no {path.relative_to(root)} (known: {', '.join(known)})")
    data = yaml.safe_load(path.read_text()) or {}
    objective = data.get("objective") or {}
    if objective.get("direction") not in ("minimize", "maximize") or not objective.get("metric"):
        raise ReprozooError(f"{path}: objective needs 'metric' and 'direction' (minimize|maximize)")
    params = data.get("params") or {}
    if not params:
        raise ReprozooError(f"{path}: 'params' is empty")
    for key, spec in params.items():
        kind = (spec or {}).get("type")
        if kind in ("float", "int"):
            if "low" not in spec or "high" not in spec or not float(spec["low"]) < float(spec["high"]):
                raise ReprozooError(f"{path}: params.{key} needs low < high")
        elif kind == "categorical":
            if not spec.get("choices"):
                raise ReprozooError(f"{path}: params.{key} needs a non-empty 'choices'")
        else:
            raise ReprozooError(f"{path}: params.{key}.type must be float, int or categorical")
    sampler, pruner = dict(data.get("sampler") or {}), dict(data.get("pruner") or {})
    for section, value, known in (("sampler", sampler.get("name", "tpe"), SAMPLERS), ("pruner", pruner.get("name", "median"), PRUNERS)):
        if value not in known:
            raise ReprozooError(f"{path}: {section}.name '{value}' unknown (known: {', '.join(known)})")
    return Space(name, str(objective["metric"]), str(objective["direction"]), dict(params), sampler, pruner)
