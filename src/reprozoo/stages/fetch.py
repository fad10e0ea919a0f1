"""fetch: dataset spec → data/raw/<dataset>/ (synthetic generator, or a verified download safely extracted)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from reprozoo.config import compose, project_root
from reprozoo.errors import ReprozooError
from reprozoo.papers import get_paper
from reprozoo.stages.paths import DatasetPaths


def fetch(dataset: str, *, profile: str | None = None, overrides: Sequence[str] = (), root: Path | None = None, progress: bool = True) -> Path:
    """Materialise `dataset` under data/raw/; returns that folder."""
    root = root or project_root()
    cfg = compose(dataset=dataset, profile=profile, overrides=overrides, root=root)
    paths = DatasetPaths.of(cfg, root)
    spec = cfg.dataset
    if spec.source == "synthetic":
        get_paper(str(spec.paper)).generate(spec, paths.raw, progress=progress)
    elif spec.source == "download":
        from reprozoo.data.download import fetch_archive

        if not spec.get("url") or not spec.get("sha256"):
            raise ReprozooError(
                f"dataset '{dataset}': dataset.url and dataset.sha256 must be set (pass dataset.url=... dataset.sha256=..., "
                f"or set the environment variables named in pipelines/dataset/{dataset}.yaml)"
            )
        fetch_archive(str(spec.url), str(spec.sha256), paths.raw, cache_dir=root / "data" / "cache", progress=progress)
    else:
        raise ReprozooError(f"pipelines/dataset/{dataset}.yaml: source '{spec.source}' must be 'synthetic' or 'download'")
    return paths.raw
