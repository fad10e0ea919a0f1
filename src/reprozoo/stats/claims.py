"""The claims-file format (`papers/<id>/claims.yaml`): a paper's claims as data, validated on load.

A file names the paper, a catalogue of `metrics` (how each table column is derived, see `stats.metrics`), default
`decision` settings, `bootstrap` settings, and `claims`. One claim compares variant A with variant B on one dataset
and split, over one or more metrics, in a `direction` (see `stats.verdict`), beside the paper's published numbers;
`decision.require` = k makes it a "k of n metrics" claim. Example:

    - id: C1-tello
      quote: "BPnP ... can achieve greater accuracy by combing the reprojection losses"
      compare: {a: hrnet-lp, b: hrnet-lh, dataset: toydrone-tello, split: test, direction: better,
                metrics: [npe, ad, acc2, acc5, add2, add5, proj2, proj5]}
      published:
        table: "3"
        a: {row: Tello l_p, values: {npe: 0.063, ad: 0.223, ...}}
        b: {row: Tello l_h, values: {npe: 0.091, ad: 0.252, ...}}
      decision: {require: 8}          # optional; also confidence and min_effect overrides

Errors are one line: `<file>: claim <id>: field <path>: <problem>`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reprozoo.errors import ReprozooError
from reprozoo.stats.metrics import BETTER, SCALES, MetricDef
from reprozoo.stats.verdict import DIRECTIONS

SPLITS = ("test",)  # the split `evaluate` scores

_STR = {"type": "string", "minLength": 1}
_NUMBERS = {"type": "object", "additionalProperties": {"type": "number"}}
_CONFIDENCE = {"type": "number", "exclusiveMinimum": 0.5, "exclusiveMaximum": 1}
_MIN_EFFECT = {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}}
_ROW = {"type": "object", "required": ["row", "values"], "additionalProperties": False, "properties": {"row": _STR, "values": _NUMBERS}}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["paper", "source", "metrics", "decision", "claims"],
    "additionalProperties": False,
    "properties": {
        "paper": _STR,
        "source": _STR,
        "bootstrap": {
            "type": "object",
            "additionalProperties": False,
            "properties": {"resamples": {"type": "integer", "minimum": 100}, "seed": {"type": "integer"}},
        },
        "metrics": {
            "type": "object",
            "minProperties": 1,
            "additionalProperties": {
                "type": "object",
                "required": ["column", "better"],
                "additionalProperties": False,
                "properties": {
                    "column": _STR,
                    "better": {"enum": list(BETTER)},
                    "mean": _STR,
                    "percent_below": {**_NUMBERS, "minProperties": 1},
                    "relative_to": _STR,
                    "run_metric": _STR,
                    "scale": {"enum": list(SCALES)},
                },
            },
        },
        "decision": {
            "type": "object",
            "required": ["confidence", "min_effect"],
            "additionalProperties": False,
            "properties": {"confidence": _CONFIDENCE, "min_effect": _MIN_EFFECT},
        },
        "claims": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "required": ["id", "quote", "compare", "published"],
                "additionalProperties": False,
                "properties": {
                    "id": {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.-]*$"},
                    "quote": _STR,
                    "note": _STR,
                    "compare": {
                        "type": "object",
                        "required": ["a", "b", "dataset", "split", "direction", "metrics"],
                        "additionalProperties": False,
                        "properties": {
                            "a": _STR,
                            "b": _STR,
                            "dataset": _STR,
                            "split": {"enum": list(SPLITS)},
                            "direction": {"enum": list(DIRECTIONS)},
                            "metrics": {"type": "array", "minItems": 1, "uniqueItems": True, "items": _STR},
                        },
                    },
                    "published": {
                        "type": "object",
                        "required": ["table", "a", "b"],
                        "additionalProperties": False,
                        "properties": {"table": {"type": ["string", "integer"]}, "a": _ROW, "b": _ROW},
                    },
                    "decision": {
                        "type": "object",
                        "additionalProperties": False,
                        "properties": {"require": {"type": "integer", "minimum": 1}, "confidence": _CONFIDENCE, "min_effect": _MIN_EFFECT},
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class Published:
    """The paper's numbers for A and B: table, row labels, and metric → value (the columns)."""

    table: str
    row_a: str
    row_b: str
    a: Mapping[str, float]
    b: Mapping[str, float]


@dataclass(frozen=True)
class Claim:
    """One comparison with its decision rule (file defaults merged in)."""

    id: str
    quote: str
    a: str
    b: str
    dataset: str
    split: str
    direction: str
    metrics: tuple[str, ...]
    published: Published
    require: int
    confidence: float
    min_effect: Mapping[str, float]
    note: str = ""


@dataclass(frozen=True)
class ClaimsFile:
    """A loaded, validated claims file."""

    path: Path
    paper: str
    source: str
    metrics: Mapping[str, MetricDef]
    claims: tuple[Claim, ...]
    resamples: int = 2000
    seed: int = 0


def claims_of(paper_id: str) -> ClaimsFile:
    """The claims of a registered paper (its `Paper.claims_file`)."""
    from reprozoo.papers import get_paper

    path = get_paper(paper_id).claims_file
    if path is None:
        raise ReprozooError(f"paper '{paper_id}': no claims file")
    return load_claims(Path(path), paper_id)


def load_claims(path: Path, paper_id: str | None = None) -> ClaimsFile:
    """Read and validate a claims file; `paper_id` (when given) must match its `paper`."""
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise ReprozooError(f"{path}: cannot read claims file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ReprozooError(f"{path}: invalid YAML: {' '.join(str(exc).split())}") from exc
    _check_schema(path, data)
    if paper_id is not None and data["paper"] != paper_id:
        raise ReprozooError(f"{path}: field paper: '{data['paper']}' but the file belongs to paper '{paper_id}'")
    metrics = {name: _metric(path, name, spec) for name, spec in data["metrics"].items()}
    claims = tuple(_claim(path, raw, metrics, data["decision"]) for raw in data["claims"])
    seen: set[str] = set()
    for claim in claims:
        if claim.id in seen:
            raise ReprozooError(f"{path}: claim {claim.id}: field id: duplicate")
        seen.add(claim.id)
    boot = data.get("bootstrap", {})
    return ClaimsFile(path, data["paper"], data["source"], metrics, claims, int(boot.get("resamples", 2000)), int(boot.get("seed", 0)))


def _check_schema(path: Path, data: Any) -> None:
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    error = best_match(Draft202012Validator(SCHEMA).iter_errors(data))
    if error is None:
        return
    where = list(error.absolute_path)
    if error.validator == "required":
        where.append(next(k for k in error.validator_value if k not in error.instance))
        problem = "missing"
    else:
        problem = " ".join(error.message.split())
    prefix = f"{path}: "
    if len(where) >= 2 and where[0] == "claims" and isinstance(where[1], int):
        raw = data["claims"][where[1]]
        label = raw.get("id") if isinstance(raw, dict) and isinstance(raw.get("id"), str) else f"#{where[1] + 1}"
        prefix += f"claim {label}: "
        where = where[2:]
    field = ".".join(str(part) for part in where) or "(top level)"
    raise ReprozooError(f"{prefix}field {field}: {problem}")


def _metric(path: Path, name: str, spec: Mapping[str, Any]) -> MetricDef:
    kinds = [kind for kind in ("mean", "percent_below", "run_metric") if kind in spec]
    where = f"{path}: field metrics.{name}"
    if len(kinds) != 1:
        raise ReprozooError(f"{where}: needs exactly one of mean, percent_below, run_metric (has {', '.join(kinds) or 'none'})")
    if "relative_to" in spec and "percent_below" not in spec:
        raise ReprozooError(f"{where}.relative_to: only applies to percent_below")
    if spec.get("scale", "linear") == "log" and "run_metric" not in spec:
        raise ReprozooError(f"{where}.scale: log scale is for run metrics only")
    return MetricDef(name=name, **spec)


def _claim(path: Path, raw: Mapping[str, Any], metrics: Mapping[str, MetricDef], defaults: Mapping[str, Any]) -> Claim:
    where = f"{path}: claim {raw['id']}: field"
    compare, published, decision = raw["compare"], raw["published"], raw.get("decision", {})
    names = tuple(compare["metrics"])
    for name in names:
        if name not in metrics:
            raise ReprozooError(f"{where} compare.metrics: unknown metric '{name}' (known: {', '.join(metrics)})")
    if compare["a"] == compare["b"]:
        raise ReprozooError(f"{where} compare.b: same variant as compare.a")
    for side in ("a", "b"):
        given = set(published[side]["values"])
        if given != set(names):
            wrong = sorted(set(names) - given) or sorted(given - set(names))
            verb = "missing" if set(names) - given else "not compared"
            raise ReprozooError(f"{where} published.{side}.values: {verb}: {', '.join(wrong)}")
    require = int(decision.get("require", len(names)))
    if require > len(names):
        raise ReprozooError(f"{where} decision.require: {require} exceeds the {len(names)} compared metrics")
    min_effect = {**defaults["min_effect"], **decision.get("min_effect", {})}
    for name in names:
        if name not in min_effect:
            raise ReprozooError(f"{where} decision.min_effect.{name}: missing (and no default)")
        if metrics[name].scale == "log" and min_effect[name] < 1:
            raise ReprozooError(f"{where} decision.min_effect.{name}: a factor ≥ 1 for a log-scale metric (got {min_effect[name]})")
    return Claim(
        id=raw["id"],
        quote=" ".join(raw["quote"].split()),
        a=compare["a"],
        b=compare["b"],
        dataset=compare["dataset"],
        split=compare["split"],
        direction=compare["direction"],
        metrics=names,
        published=Published(str(published["table"]), published["a"]["row"], published["b"]["row"], published["a"]["values"], published["b"]["values"]),
        require=require,
        confidence=float(decision.get("confidence", defaults["confidence"])),
        min_effect={name: float(min_effect[name]) for name in names},
        note=" ".join(raw.get("note", "").split()),
    )

