"""report: one self-contained HTML page per paper → reports/<paper>.html, also logged to MLflow.

The page holds the claims table (from reports/claims/<paper>.json, written by `verify`), the training curves of every
evaluated run (MLflow metric history), the figures of one run per variant and dataset (MLflow `figures/` artifacts,
embedded as base64 PNG), each dataset's validation summary (data/processed/<dataset>/dataset.json), and the paper's
registered model versions with their aliases and promotion decisions. It is logged as `report/<paper>.html` in one
run per paper (name `report`, tag `reprozoo.role=report` in the paper's experiment), reused by later reports, so the
runs of the models stay untouched and the report has one place in the UI.
"""

from __future__ import annotations

import base64
import io
import json
import tempfile
from collections import defaultdict
from datetime import datetime, timezone
from pathlib import Path

from reprozoo.config import compose, project_root
from reprozoo.errors import ReprozooError
from reprozoo.stats.reports import EvalReport, read_report

CURVE_PREFIXES = ("train/", "val/")
MAX_CURVES = 9

TEMPLATE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>reprozoo · {{ paper }}</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;padding:0 1em;color:#222}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 7px;text-align:left;vertical-align:top}
th{background:#f3f3f3}.reproduced{background:#d9f2d9}.contradicted{background:#f8d0d0}.inconclusive{background:#f4f0d0}
img{max-width:100%;border:1px solid #ddd;margin:4px 0}details{margin:.3em 0 1em}code{background:#f3f3f3;padding:0 3px}
</style></head><body>
<h1>Paper <code>{{ paper }}</code></h1>
<p>{{ claims.source }}<br>Generated {{ generated }} from <code>{{ claims.claims_file }}</code>.
Verdicts: {% for v, n in claims.counts.items() %}{{ n }} {{ v }}{% if not loop.last %} · {% endif %}{% endfor %}.</p>

<h2>Claims</h2>
<table><tr><th>claim</th><th>A vs B</th><th>dataset</th><th>rule</th><th>verdict</th><th>why</th><th>paper's numbers</th></tr>
{% for c in claims.claims %}<tr><td>{{ c.id }}</td><td>{{ c.a }} vs {{ c.b }}</td><td>{{ c.dataset }}</td>
<td>{{ c.direction }}, {{ c.require }} of {{ c.n_metrics }}</td><td class="{{ c.verdict }}">{{ c.verdict }}</td><td>{{ c.reason }}</td>
<td class="{{ c.paper_verdict }}">{{ c.paper_verdict }}</td></tr>{% endfor %}</table>
{% for c in claims.claims %}<details><summary><b>{{ c.id }}</b>: {{ c.verdict }} — “{{ c.quote }}”</summary>
<p>A = {{ c.a }} (seeds {{ c.runs.a | map(attribute="seed") | join(", ") or "none" }}), B = {{ c.b }}
(seeds {{ c.runs.b | map(attribute="seed") | join(", ") or "none" }}); paper Table {{ c.published.table }}:
“{{ c.published.row_a }}” vs “{{ c.published.row_b }}”. {{ c.note }}</p>
<table><tr><th>metric</th><th>better</th><th>paper A</th><th>paper B</th><th>paper Δ</th><th>ours A</th><th>ours B</th>
<th>ours Δ [{{ (100 * c.confidence) | round(1) }} % CI]</th><th>min effect</th><th>verdict</th></tr>
{% for m in c.metrics %}<tr><td>{{ m.column }}</td><td>{{ m.better }}</td><td>{{ m.paper.a | num }}</td><td>{{ m.paper.b | num }}</td>
{% set x = "×" if m.scale == "log" else "" %}<td>{{ x }}{{ m.paper.delta | num }}</td>{% if m.ours %}<td>{{ m.ours.a | num }}</td><td>{{ m.ours.b | num }}</td>
<td>{{ x }}{{ m.ours.delta | num }} [{{ x }}{{ m.ours.ci[0] | num }}, {{ x }}{{ m.ours.ci[1] | num }}]</td>{% else %}<td>–</td><td>–</td><td>–</td>{% endif %}
<td>{{ x }}{{ m.min_effect | num }}</td><td class="{{ m.verdict }}">{{ m.verdict }}{% if m.note %} ({{ m.note }}){% endif %}</td></tr>{% endfor %}
</table></details>{% endfor %}

<h2>Training curves</h2>
{% for dataset, png in curves.items() %}<h3>{{ dataset }}</h3><img alt="training curves on {{ dataset }}" src="data:image/png;base64,{{ png }}">
{% else %}<p>No metric history found in the tracking store.</p>{% endfor %}

<h2>Figures</h2>
{% for run in figures %}<details><summary>{{ run.label }} (run <code>{{ run.run_id }}</code>)</summary>
{% for name, png in run.images %}<p>{{ name }}<br><img alt="{{ name }}" src="data:image/png;base64,{{ png }}"></p>{% endfor %}</details>
{% else %}<p>No figures found.</p>{% endfor %}

<h2>Datasets</h2>
<table><tr><th>dataset</th><th>train / val / test</th><th>raw samples (filtered out)</th><th>validation</th><th>manifest sha256</th></tr>
{% for d in datasets %}<tr><td>{{ d.name }}</td>{% if d.info %}<td>{{ d.info.splits.train }} / {{ d.info.splits.val }} / {{ d.info.splits.test }}</td>
<td>{{ d.info.n_raw }} ({{ d.info.n_filtered }})</td>
<td class="{{ 'reproduced' if d.info.validation.success else 'contradicted' }}">{{ 'passed' if d.info.validation.success else 'failed' }}:
{{ d.info.validation.evaluated_expectations }} expectations, {{ d.info.validation.failed_expectations }} failed
{% for f in d.info.validation.failures %}<br>{{ f }}{% endfor %}</td><td><code>{{ d.info.manifest_sha256 }}</code></td>
{% else %}<td colspan="4">no data/processed/{{ d.name }}/dataset.json here</td>{% endif %}</tr>{% endfor %}</table>

<h2>Registered models</h2>
{% for model in registry %}<h3><code>{{ model.name }}</code></h3>
<p>Aliases: {% for alias, version in model.aliases.items() %}@{{ alias }} → version {{ version }}{% if not loop.last %}, {% endif %}{% else %}none{% endfor %}</p>
<table><tr><th>version</th><th>aliases</th><th>variant / seed</th><th>run</th><th>validation</th><th>promotion</th><th>created</th></tr>
{% for v in model.versions %}<tr><td>{{ v.version }}</td><td>{{ v.aliases | join(", ") }}</td><td>{{ v.tags.variant }} / {{ v.tags.seed }}</td>
<td><code>{{ v.run_id }}</code></td><td>{{ v.tags["validation.result"] }}</td>
<td>{{ v.tags["promotion.decision"] or "" }}{% if v.tags["promotion.reason"] %}: {{ v.tags["promotion.reason"] }}{% endif %}</td><td>{{ v.created }}</td></tr>{% endfor %}
</table>{% else %}<p>No registered model for this paper.</p>{% endfor %}
</body></html>
"""


def _png(figure) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=90)
    return base64.b64encode(buffer.getvalue()).decode()


def _curves(client, runs: list[EvalReport]) -> dict[str, str]:
    """dataset → PNG (base64) of the runs' train/val metric histories, one panel per metric, one line per run."""
    from matplotlib.figure import Figure

    from mlflow.exceptions import MlflowException

    by_dataset: dict[str, dict[str, list]] = defaultdict(lambda: defaultdict(list))
    for run in runs:
        try:
            logged = client.get_run(run.run_id).data.metrics
        except MlflowException as exc:
            raise ReprozooError(f"{run.path}: run {run.run_id} is not in the tracking store (is MLFLOW_TRACKING_URI the project's?)") from exc
        for key in sorted(logged):
            if key.startswith(CURVE_PREFIXES):
                history = client.get_metric_history(run.run_id, key)
                if history:
                    by_dataset[run.dataset][key].append((f"{run.variant}/seed{run.seed}", [m.step for m in history], [m.value for m in history]))
    out = {}
    for dataset, panels in sorted(by_dataset.items()):
        keys = sorted(panels, key=lambda k: ("loss" not in k, not k.startswith("train/"), k))[:MAX_CURVES]  # losses first
        figure = Figure(figsize=(4.2 * min(3, len(keys)), 3.2 * ((len(keys) + 2) // 3)), layout="constrained")
        for i, key in enumerate(keys):
            axes = figure.add_subplot((len(keys) + 2) // 3, min(3, len(keys)), i + 1)
            for label, steps, values in panels[key]:
                axes.plot(steps, values, marker=".", label=label)
            axes.set(title=key, xlabel="step")
            axes.legend(fontsize=7)
        out[dataset] = _png(figure)
    return out


def _figures(client, runs: list[EvalReport]) -> list[dict]:
    """The PNG figures (base64) of the lowest seed's run of each (variant, dataset)."""
    first: dict[tuple[str, str], EvalReport] = {}
    for run in sorted(runs, key=lambda r: r.seed):
        first.setdefault((run.variant, run.dataset), run)
    out = []
    with tempfile.TemporaryDirectory() as tmp:
        for (variant, dataset), run in sorted(first.items()):
            images = []
            for artifact in client.list_artifacts(run.run_id, "figures"):
                if artifact.path.endswith(".png"):
                    local = Path(client.download_artifacts(run.run_id, artifact.path, tmp))
                    images.append((artifact.path.removeprefix("figures/"), base64.b64encode(local.read_bytes()).decode()))
            if images:
                out.append({"label": f"{variant} on {dataset}, seed {run.seed}", "run_id": run.run_id, "images": images})
    return out


def _registry(client, paper: str) -> list[dict]:
    """The paper's registered models (`<paper>.<dataset>`): aliases and versions with their tags."""
    models = []
    for model in sorted(client.search_registered_models(filter_string=f"name LIKE '{paper}.%'"), key=lambda m: m.name):
        by_version = defaultdict(list)
        for alias, version in model.aliases.items():
            by_version[str(version)].append(f"@{alias}")
        versions = [
            {
                "version": v.version,
                "aliases": by_version.get(str(v.version), []),
                "run_id": v.run_id or v.tags.get("run_id"),
                "tags": v.tags,
                "created": datetime.fromtimestamp(v.creation_timestamp / 1000, timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            }
            for v in sorted(client.search_model_versions(f"name = '{model.name}'"), key=lambda v: int(v.version))
        ]
        models.append({"name": model.name, "aliases": dict(model.aliases), "versions": versions})
    return models


def _dataset_info(processed_dir: Path) -> dict | None:
    """A processed dataset's dataset.json (splits, filtering, validation result), None when it is not here."""
    path = processed_dir / "dataset.json"
    return json.loads(path.read_text()) if path.is_file() else None


def _report_run(client, experiment_id: str, paper: str) -> str:
    """The paper's report run: found by its tag, created on first use."""
    found = client.search_runs([experiment_id], filter_string="tags.`reprozoo.role` = 'report'", max_results=1)
    if found:
        return found[0].info.run_id
    return client.create_run(experiment_id, run_name="report", tags={"reprozoo.role": "report", "paper": paper}).info.run_id


def report(paper: str, *, root: Path | None = None) -> tuple[Path, str]:
    """Write reports/<paper>.html and log it to the paper's report run; returns (the page, the run id)."""
    from jinja2 import Environment
    from mlflow import MlflowClient

    from reprozoo.tracking import store

    root = root or project_root()
    cfg = compose(root=root)
    reports_dir = root / str(cfg.paths.reports)
    claims_path = reports_dir / "claims" / f"{paper}.json"
    if not claims_path.is_file():
        raise ReprozooError(f"{claims_path}: missing (run `reprozoo verify {paper}` first)")
    claims = json.loads(claims_path.read_text())
    runs = [read_report(p) for p in sorted((reports_dir / "eval" / paper).glob("*/*/seed*.json"))]
    store.connect(cfg, root)
    client = MlflowClient()
    processed = root / str(cfg.paths.processed)
    environment = Environment(autoescape=True)
    environment.filters["num"] = lambda value: "–" if value is None else f"{value:.4g}"
    html = environment.from_string(TEMPLATE).render(
        paper=paper,
        generated=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        claims=claims,
        curves=_curves(client, runs),
        figures=_figures(client, runs),
        datasets=[{"name": d, "info": _dataset_info(processed / d)} for d in sorted({r.dataset for r in runs})],
        registry=_registry(client, paper),
    )
    page = reports_dir / f"{paper}.html"
    page.write_text(html)
    run_id = _report_run(client, store.experiment_id(cfg, root, paper), paper)
    client.log_artifact(run_id, str(page), "report")
    client.set_terminated(run_id)
    return page, run_id
